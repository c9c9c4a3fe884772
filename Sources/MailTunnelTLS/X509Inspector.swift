import COpenSSL
import CMailTunnelShims

/// The parts of a certificate an operator sees in logs and policies rely on.
public struct CertificateIdentity: Sendable, Equatable {
    public var subject: String
    public var commonName: String?
    public var emails: [String]
    public var dnsNames: [String]
    public var serial: String
    public var fingerprint: String

    /// What `allow-subject` matches and what becomes the login: the CN, else the first email.
    public var loginName: String? { commonName ?? emails.first }
}

enum X509Inspector {
    static func identity(_ cert: OpaquePointer) -> CertificateIdentity {
        var emails: [String] = []
        var dns: [String] = []
        if let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) {
            let names = OpaquePointer(raw)
            for index in 0..<mt_sk_GENERAL_NAME_num(names) {
                guard let name = mt_sk_GENERAL_NAME_value(names, index), let ia5 = mt_GENERAL_NAME_ia5(name) else { continue }
                let text = asn1String(ia5)
                switch mt_GENERAL_NAME_type(name) {
                case GEN_EMAIL: emails.append(text)
                case GEN_DNS: dns.append(text)
                default: break
                }
            }
            mt_GENERAL_NAMES_free(names)
        }
        if let subjectName = X509_get_subject_name(cert) {
            // The legacy emailAddress attribute in the subject DN counts as an email too.
            emails.append(contentsOf: entries(subjectName, nid: NID_pkcs9_emailAddress).filter { !emails.contains($0) })
        }
        let cn = X509_get_subject_name(cert).flatMap { entries($0, nid: NID_commonName).first }
        return CertificateIdentity(
            subject: subjectLine(cert), commonName: cn, emails: emails, dnsNames: dns,
            serial: serialHex(cert), fingerprint: sha256Fingerprint(cert))
    }

    static func sha256Fingerprint(_ cert: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(cert, EVP_sha256(), &digest, &length) == 1 else { return "" }
        return digest.prefix(Int(length)).map { hexByte($0) }.joined(separator: ":")
    }

    /// RFC 2253 form, e.g. `CN=alice,O=Example`.
    static func subjectLine(_ cert: OpaquePointer) -> String {
        guard let name = X509_get_subject_name(cert), let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        X509_NAME_print_ex(bio, name, 0, mt_xn_flag_rfc2253())
        return bioString(bio)
    }

    static func serialHex(_ cert: OpaquePointer) -> String {
        guard let serial = X509_get_serialNumber(cert), let bn = ASN1_INTEGER_to_BN(serial, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { CRYPTO_free(hex, #file, #line) }
        return String(cString: hex)
    }

    private static func entries(_ name: OpaquePointer, nid: Int32) -> [String] {
        var result: [String] = []
        var last: Int32 = -1
        while true {
            last = X509_NAME_get_index_by_NID(name, nid, last)
            if last < 0 { break }
            guard let entry = X509_NAME_get_entry(name, last), let data = X509_NAME_ENTRY_get_data(entry) else { continue }
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            if length >= 0, let utf8 {
                result.append(String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self))
                CRYPTO_free(utf8, #file, #line)
            }
        }
        return result
    }

    private static func asn1String(_ string: UnsafePointer<ASN1_STRING>) -> String {
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, let data = ASN1_STRING_get0_data(string) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: data, count: length), as: UTF8.self)
    }

    static func bioString(_ bio: OpaquePointer) -> String {
        var pointer: UnsafeMutablePointer<CChar>?
        let length = mt_BIO_get_mem_data(bio, &pointer)
        guard length > 0, let pointer else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
    }
}
