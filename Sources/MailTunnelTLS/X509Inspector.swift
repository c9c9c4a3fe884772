internal import COpenSSL
internal import CMailTunnelShims

/// Reads a certificate's names from their ASN.1 lengths (never as C strings, which would stop at a NUL).
enum X509Inspector {
    /// The certificate's identity, and what makes any of its identity fields (every CN, every email) unusable.
    static func read(_ cert: OpaquePointer) -> (identity: CertificateIdentity, problems: [String]) {
        var problems: [String] = []
        func text(_ bytes: [UInt8]?, _ field: String) -> String? {
            guard let bytes, let text = IdentityText.decode(bytes) else {
                problems.append("\(field) holds a control character or is not valid text")
                return nil
            }
            return text
        }
        var emails: [String] = []
        var dns: [String] = []
        if let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) {
            let names = OpaquePointer(raw)
            for index in 0..<mt_sk_GENERAL_NAME_num(names) {
                guard let name = mt_sk_GENERAL_NAME_value(names, index), let ia5 = mt_GENERAL_NAME_ia5(name) else { continue }
                switch mt_GENERAL_NAME_type(name) {
                case GEN_EMAIL:
                    // IA5String: ASCII only.
                    let bytes = asn1Bytes(ia5)
                    if let email = text(bytes.allSatisfy { $0 < 0x80 } ? bytes : nil, "email SAN") { emails.append(email) }
                case GEN_DNS:
                    dns.append(String(decoding: asn1Bytes(ia5), as: UTF8.self))
                default: break
                }
            }
            mt_GENERAL_NAMES_free(names)
        }
        var commonNames: [String] = []
        if let subjectName = X509_get_subject_name(cert) {
            commonNames = entries(subjectName, nid: NID_commonName).compactMap { text($0, "CN") }
            // The legacy emailAddress attribute in the subject DN counts as an email too.
            for email in entries(subjectName, nid: NID_pkcs9_emailAddress).compactMap({ text($0, "emailAddress") })
            where !emails.contains(email) {
                emails.append(email)
            }
        }
        let identity = CertificateIdentity(
            subject: subjectLine(cert), commonName: commonNames.last, emails: emails, dnsNames: dns,
            serial: serialHex(cert), fingerprint: sha256Fingerprint(cert))
        return (identity, problems)
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

    /// Each entry's value as UTF-8 bytes (converted from its ASN.1 string type); nil where it cannot be.
    private static func entries(_ name: OpaquePointer, nid: Int32) -> [[UInt8]?] {
        var result: [[UInt8]?] = []
        var last: Int32 = -1
        while true {
            last = X509_NAME_get_index_by_NID(name, nid, last)
            if last < 0 { break }
            guard let entry = X509_NAME_get_entry(name, last), let data = X509_NAME_ENTRY_get_data(entry) else {
                result.append(nil)
                continue
            }
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            if length >= 0, let utf8 {
                result.append(Array(UnsafeBufferPointer(start: utf8, count: Int(length))))
                CRYPTO_free(utf8, #file, #line)
            } else {
                result.append(nil)
            }
        }
        return result
    }

    private static func asn1Bytes(_ string: UnsafePointer<ASN1_STRING>) -> [UInt8] {
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, let data = ASN1_STRING_get0_data(string) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
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
