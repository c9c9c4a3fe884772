internal import COpenSSL
internal import CMailTunnelShims

/// Client-certificate policy on an `SSL_CTX`: trust anchors, CRLs, depth, and what a missing certificate means.
enum ClientVerification {
    static func configure(_ ctx: OpaquePointer, _ s: TLSSettings) throws(TLSError) {
        guard s.clientCertificates != .none else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            return
        }
        guard s.caFile != nil || s.caPath != nil else {
            throw TLSError(operation: "verify", reasons: ["client certificates need ca-file or ca-path"])
        }
        guard SSL_CTX_load_verify_locations(ctx, s.caFile, s.caPath) == 1 else {
            throw TLSError.fromErrorQueue("ca-file/ca-path \(s.caFile ?? s.caPath ?? "")")
        }
        if let caFile = s.caFile {
            // Tell clients which CAs we accept so they pick the right certificate.
            if let names = SSL_load_client_CA_file(caFile) { SSL_CTX_set_client_CA_list(ctx, names) }
        }
        if let crlFile = s.crlFile { try loadCRLs(ctx, crlFile) }
        var mode = SSL_VERIFY_PEER
        if s.clientCertificates == .require { mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
        SSL_CTX_set_verify(ctx, mode, verifyCallback)
        // OpenSSL's depth counts intermediates below the leaf; the operator's number counts the whole chain.
        SSL_CTX_set_verify_depth(ctx, max(0, s.verifyDepth - 1))
    }

    /// Loads every CRL in a PEM file and turns on checking for the whole chain.
    private static func loadCRLs(_ ctx: OpaquePointer, _ path: String) throws(TLSError) {
        guard let bio = BIO_new_file(path, "r") else { throw TLSError.fromErrorQueue("crl-file \(path)") }
        defer { BIO_free(bio) }
        guard let store = SSL_CTX_get_cert_store(ctx) else { throw TLSError.fromErrorQueue("crl-file store") }
        var count = 0
        while let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) {
            X509_STORE_add_crl(store, crl)
            X509_CRL_free(crl)
            count += 1
        }
        ERR_clear_error() // the loop ends on "no start line", which is not an error
        guard count > 0 else { throw TLSError(operation: "crl-file \(path)", reasons: ["no CRL found"]) }
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
    }
}

/// Intermediates without a CRL of their own are accepted (the CRL file covers the CAs the operator has CRLs for);
/// the leaf must always be covered. Every other verdict is OpenSSL's, except that a leaf whose identity fields
/// (CN, emails) hold control characters or are not valid text is refused here, so the handshake fails with a
/// bad_certificate alert instead of the name being cut at a NUL further on.
/// A refused certificate is remembered on its session, because OpenSSL discards it before the caller could ask.
private let verifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverified, store in
    guard let store else { return preverified }
    let depth = X509_STORE_CTX_get_error_depth(store)
    var refusal: String?
    if preverified == 1 {
        guard depth == 0, let leaf = X509_STORE_CTX_get_current_cert(store) else { return 1 }
        let problems = X509Inspector.read(leaf).problems
        guard !problems.isEmpty else { return 1 }
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED)
        refusal = problems.joined(separator: ", ")
    }
    let error = X509_STORE_CTX_get_error(store)
    if error == X509_V_ERR_UNABLE_TO_GET_CRL && depth > 0 {
        X509_STORE_CTX_set_error(store, X509_V_OK)
        return 1
    }
    if let raw = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
       let owner = SSL_get_ex_data(OpaquePointer(raw), 0) {
        let session = Unmanaged<TLSSession>.fromOpaque(owner).takeUnretainedValue()
        let reason = refusal ?? X509_verify_cert_error_string(Int(error)).map { String(cString: $0) } ?? "error \(error)"
        var subject = "-", serial = "-"
        if let cert = X509_STORE_CTX_get_current_cert(store) {
            subject = X509Inspector.subjectLine(cert)
            serial = X509Inspector.serialHex(cert)
        }
        session.verifyFailure = CertificateVerifyFailure(reason: reason, depth: Int(depth), subject: subject, serial: serial)
    }
    return 0
}

/// Why a client certificate was refused, for the connection's log line.
public struct CertificateVerifyFailure: Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var depth: Int
    public var subject: String
    public var serial: String
    public var description: String { "\(reason) (subject \"\(subject)\", serial \(serial), depth \(depth))" }
}
