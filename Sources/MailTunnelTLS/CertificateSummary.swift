#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSL

/// What logs, `--check` and the expiry metric say about one served certificate.
public struct CertificateSummary: Sendable, Equatable {
    public var path: String
    public var subject: String
    /// The names SNI matches against: the DNS SANs, or the CN when there is no SAN (as browsers do).
    public var names: [String]
    /// The end of validity, in seconds since the epoch.
    public var notAfter: Int
    /// OpenSSL's key type name: RSA, EC, ED25519, ...
    public var keyType: String
    public var fingerprint: String

    /// `not after` as ISO 8601 UTC, e.g. `2027-01-31T12:00:00Z`.
    public var notAfterText: String { Self.isoText(notAfter) }

    /// The leaf (first certificate) of a PEM file's bytes; nil when there is none.
    public static func read(pem: [UInt8], path: String) -> CertificateSummary? {
        guard let bio = TLSContext.memoryBIO(pem) else { return nil }
        defer { BIO_free(bio) }
        guard let leaf = PEM_read_bio_X509_AUX(bio, nil, nil, nil) else {
            ERR_clear_error()
            return nil
        }
        defer { X509_free(leaf) }
        return CertificateSummary(leaf: leaf, path: path)
    }

    init(leaf: OpaquePointer, path: String) {
        self.path = path
        subject = X509Inspector.subjectLine(leaf)
        let identity = X509Inspector.read(leaf).identity
        names = identity.dnsNames.isEmpty ? identity.commonName.map { [$0] } ?? [] : identity.dnsNames
        notAfter = X509_get0_notAfter(leaf).flatMap(Self.epochSeconds) ?? 0
        keyType = X509_get0_pubkey(leaf).flatMap { EVP_PKEY_get0_type_name($0) }.map { String(cString: $0) } ?? "unknown"
        fingerprint = X509Inspector.sha256Fingerprint(leaf)
    }

    static func epochSeconds(_ time: UnsafePointer<ASN1_TIME>) -> Int? {
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Int(timegm(&parts))
    }

    public static func isoText(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return String(seconds) }
        var buffer = [CChar](repeating: 0, count: 32)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
