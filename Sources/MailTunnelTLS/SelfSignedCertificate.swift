internal import COpenSSL
internal import CMailTunnelShims
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

    /// The state directory may belong to the service user (systemd's StateDirectory=), so nothing in it is
    /// trusted as a path: a symbolic link or other non-file at either name is refused, never followed or
    /// written through, and new files are created under fresh temporary names and renamed into place.
    public static func loadOrCreate(stateDirectory: String, commonName: String) throws(TLSError) -> Files {
        let certPath = stateDirectory + "/selfsigned-cert.pem"
        let keyPath = stateDirectory + "/selfsigned-key.pem"
        let haveCert = try present(certPath)
        let haveKey = try present(keyPath)
        if haveCert && haveKey {
            return Files(certificate: certPath, key: keyPath, created: false)
        }
        if mkdir(stateDirectory, 0o700) != 0 && errno != EEXIST {
            throw TLSError(operation: "state-dir \(stateDirectory)", reasons: [String(cString: strerror(errno))])
        }
        try generate(certPath: certPath, keyPath: keyPath, commonName: commonName)
        return Files(certificate: certPath, key: keyPath, created: true)
    }

    /// true: a regular file is there (or the directory cannot be searched, as after a privilege drop: the reader
    /// decides); false: nothing is there; throws for anything else.
    private static func present(_ path: String) throws(TLSError) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return false }
            if errno == EACCES { return true }
            throw TLSError(operation: "state-dir \(path)", reasons: [String(cString: strerror(errno))])
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            let what = info.st_mode & S_IFMT == S_IFLNK ? "a symbolic link" : "not a regular file"
            throw TLSError(operation: "state-dir \(path)", reasons: ["is \(what); refusing to follow or replace it"])
        }
        return true
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

        try write(keyPath, mode: 0o600) { bio in PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) }
        try write(certPath, mode: 0o644) { bio in PEM_write_bio_X509(bio, cert) }
    }

    private static func addExtension(_ cert: OpaquePointer, _ nid: Int32, _ value: String) throws(TLSError) {
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, cert, cert, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else { throw TLSError.fromErrorQueue("extension \(value)") }
        X509_add_ext(cert, ext, -1)
        X509_EXTENSION_free(ext)
    }

    /// Writes under a fresh name created with O_EXCL|O_NOFOLLOW (so never through anything planted in the
    /// directory), with its final permissions before any secret is in it, then renames it into place (a rename
    /// replaces a link at the final name rather than following it).
    private static func write(_ path: String, mode: mode_t, _ body: (OpaquePointer) -> Int32) throws(TLSError) {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TLSError.fromErrorQueue("write \(path)") }
        defer { BIO_free(bio) }
        guard body(bio) == 1 else { throw TLSError.fromErrorQueue("write \(path)") }
        var data: UnsafeMutablePointer<CChar>?
        let length = mt_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { throw TLSError(operation: "write \(path)", reasons: ["nothing to write"]) }

        let (fd, temporary) = try createTemporary(near: path, mode: mode)
        var failure: String?
        var offset = 0
        while offset < length, failure == nil {
            let count = Glibc.write(fd, data + offset, length - offset)
            if count > 0 { offset += count } else if errno != EINTR { failure = String(cString: strerror(errno)) }
        }
        if failure == nil, fchmod(fd, mode) != 0 || fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw TLSError(operation: "write \(path)", reasons: [failure])
        }
    }

    private static func createTemporary(near path: String, mode: mode_t) throws(TLSError) -> (Int32, String) {
        for _ in 0..<16 {
            var random = [UInt8](repeating: 0, count: 6)
            RAND_bytes(&random, Int32(random.count))
            let temporary = path + ".tmp-" + random.map { String($0, radix: 16) }.joined()
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 { return (fd, temporary) }
            if errno != EEXIST { throw TLSError(operation: "write \(temporary)", reasons: [String(cString: strerror(errno))]) }
        }
        throw TLSError(operation: "write \(path)", reasons: ["no free temporary name"])
    }
}
