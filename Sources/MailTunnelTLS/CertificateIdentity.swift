/// The parts of a certificate an operator sees in logs and policies rely on.
public struct CertificateIdentity: Sendable, Equatable {
    public var subject: String
    /// The subject's most specific CN: the last one, as OpenSSL's own name checks read it. Other CNs (e.g.
    /// `CN=Users` in a directory-style DN) are not names the certificate is known by.
    public var commonName: String?
    /// rfc822Name SANs, then the subject's legacy emailAddress attributes.
    public var emails: [String]
    public var dnsNames: [String]
    public var serial: String
    public var fingerprint: String
    /// The one name this client is known by everywhere: XCLIENT LOGIN, SASL EXTERNAL, PROXY v2's CN TLV and
    /// the log. Without `allow-subject` it is the CN, else the first email; `admit` makes it the listed name.
    public var loginName: String?

    public init(subject: String, commonName: String?, emails: [String], dnsNames: [String] = [],
                serial: String = "", fingerprint: String = "") {
        self.subject = subject
        self.commonName = commonName
        self.emails = emails
        self.dnsNames = dnsNames
        self.serial = serial
        self.fingerprint = fingerprint
        self.loginName = commonName ?? emails.first
    }

    /// The names `allow-subject` can list, in the order preferred when it lists several of them.
    public var names: [String] { [commonName].compactMap { $0 } + emails }

    /// `allow-subject`: true if one of the certificate's names is listed, and that name becomes `loginName`,
    /// so the identity that was admitted is the identity that is used. An empty list admits every holder
    /// under the default name.
    public mutating func admit(_ allowed: [String]) -> Bool {
        guard !allowed.isEmpty else { return true }
        guard let name = names.first(where: allowed.contains) else { return false }
        loginName = name
        return true
    }
}

/// The text of a certificate's identity field, or nil when it is not safe to use as one: invalid UTF-8, or a
/// control character (C0, DEL, C1, line/paragraph separators) that C strings would cut at or logs and SMTP
/// would read as a line end. Such a certificate is refused at the handshake.
public enum IdentityText {
    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> String? where Bytes.Element == UInt8 {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let unsafe = text.unicodeScalars.contains { scalar in
            switch scalar.value {
            case 0x00..<0x20, 0x7f..<0xa0, 0x2028, 0x2029: return true
            default: return false
            }
        }
        return unsafe ? nil : text
    }
}
