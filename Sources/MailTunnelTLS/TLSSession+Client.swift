internal import COpenSSL

/// What the client side of a session reports about the server.
extension TLSSession {
    /// Whether the handshake resumed a kept session.
    public var sessionReused: Bool { SSL_session_reused(ssl) == 1 }

    /// Why the server's certificate did not verify ("ok" when it did).
    public var verifyResultText: String {
        String(cString: X509_verify_cert_error_string(Int(SSL_get_verify_result(ssl))))
    }
}
