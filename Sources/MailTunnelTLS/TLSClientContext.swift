internal import COpenSSL

/// The client end of TLS, for in-process tests of the server side (the engine's harness): `package`, so it is
/// not part of the library's API and the daemon never uses it.
package final class TLSClientContext: @unchecked Sendable {
    private let context: OpaquePointer

    /// `caFile`: trust for the server's certificate (nil: not checked); `certificateFile`/`keyFile`: the
    /// client certificate to present, if any.
    package init(caFile: String?, certificateFile: String? = nil, keyFile: String? = nil) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError.fromErrorQueue("SSL_CTX_new") }
        context = ctx
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else { throw TLSError.fromErrorQueue("ca") }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        }
        if let certificateFile {
            guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1,
                  SSL_CTX_use_PrivateKey_file(ctx, keyFile ?? certificateFile, SSL_FILETYPE_PEM) == 1
            else { throw TLSError.fromErrorQueue("client certificate") }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// A client-side session on a connected socket (blocking or not; the session's calls behave accordingly).
    package func makeSession(socket: Int32) throws(TLSError) -> TLSSession {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.fromErrorQueue("SSL_new") }
        guard SSL_set_fd(ssl, socket) == 1 else {
            SSL_free(ssl)
            throw TLSError.fromErrorQueue("SSL_set_fd")
        }
        SSL_set_connect_state(ssl)
        // A plain socket BIO: the test client writes each flight at once (the server's coalescing is not wanted here).
        return TLSSession(ssl: ssl, socket: socket)
    }
}
