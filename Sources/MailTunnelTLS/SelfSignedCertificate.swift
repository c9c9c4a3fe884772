import COpenSSL
import CMailTunnelShims
#if canImport(Glibc)
import Glibc
#endif

/// The certificate used when an operator configures none: generated once (ECDSA P-256), kept in the state
/// directory and reused, so clients that pinned it on first use keep trusting it across restarts.
public enum SelfSignedCertificate {
    public struct Files: Sendable, Equatable {
        public var certificate: String
        public var key: String
        public var created: Bool
    }

    public static func loadOrCreate(stateDirectory: String, commonName: String) throws(TLSError) -> Files {
        let certPath = stateDirectory + "/selfsigned-cert.pem"
        let keyPath = stateDirectory + "/selfsigned-key.pem"
        if access(certPath, R_OK) == 0 && access(keyPath, R_OK) == 0 {
            return Files(certificate: certPath, key: keyPath, created: false)
        }
        if mkdir(stateDirectory, 0o700) != 0 && errno != EEXIST {
            throw TLSError(operation: "state-dir \(stateDirectory)", reasons: [String(cString: strerror(errno))])
        }
        try generate(certPath: certPath, keyPath: keyPath, commonName: commonName)
        return Files(certificate: certPath, key: keyPath, created: true)
    }

    static func generate(certPath: String, keyPath: String, commonName: String) throws(TLSError) {
        ERR_clear_error()
        guard let key = mt_EVP_EC_gen_p256() else { throw TLSError.fromErrorQueue("generate P-256 key") }
        defer { EVP_PKEY_free(key) }
        guard let cert = X509_new() else { throw TLSError.fromErrorQueue("X509_new") }
        defer { X509_free(cert) }

        X509_set_version(cert, 2) // v3
        var serial = [UInt8](repeating: 0, count: 16)
        RAND_bytes(&serial, Int32(serial.count))
        serial[0] &= 0x7f // positive
        if let bn = BN_bin2bn(serial, Int32(serial.count), nil) {
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))
            BN_free(bn)
        }
        X509_gmtime_adj(X509_getm_notBefore(cert), -3600)
        X509_gmtime_adj(X509_getm_notAfter(cert), 10 * 365 * 24 * 3600)
        X509_set_pubkey(cert, key)
        guard let name = X509_get_subject_name(cert) else { throw TLSError.fromErrorQueue("subject") }
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, "mailtunnel self-signed", -1, -1, 0)
        X509_set_issuer_name(cert, name)
        try addExtension(cert, NID_subject_alt_name, "DNS:\(commonName),DNS:localhost,IP:127.0.0.1,IP:::1")
        try addExtension(cert, NID_basic_constraints, "critical,CA:FALSE")
        try addExtension(cert, NID_ext_key_usage, "serverAuth")
        guard X509_sign(cert, key, EVP_sha256()) > 0 else { throw TLSError.fromErrorQueue("X509_sign") }

        try writePEM(keyPath, mode: 0o600) { bio in PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) }
        try writePEM(certPath, mode: 0o644) { bio in PEM_write_bio_X509(bio, cert) }
    }

    private static func addExtension(_ cert: OpaquePointer, _ nid: Int32, _ value: String) throws(TLSError) {
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, cert, cert, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else { throw TLSError.fromErrorQueue("extension \(value)") }
        X509_add_ext(cert, ext, -1)
        X509_EXTENSION_free(ext)
    }

    /// Creates the file with its final permissions before any secret is written into it.
    private static func writePEM(_ path: String, mode: mode_t, _ body: (OpaquePointer) -> Int32) throws(TLSError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw TLSError(operation: "write \(temporary)", reasons: [String(cString: strerror(errno))]) }
        close(fd)
        guard let bio = BIO_new_file(temporary, "w") else { throw TLSError.fromErrorQueue("open \(temporary)") }
        let ok = body(bio)
        BIO_free(bio)
        guard ok == 1 else { throw TLSError.fromErrorQueue("write \(temporary)") }
        guard rename(temporary, path) == 0 else {
            throw TLSError(operation: "rename \(path)", reasons: [String(cString: strerror(errno))])
        }
    }
}
