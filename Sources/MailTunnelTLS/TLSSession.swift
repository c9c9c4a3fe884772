internal import COpenSSL
internal import CMailTunnelShims

/// Outcome of one non-blocking TLS step. The caller waits for the named readiness and retries.
public enum TLSStep: Equatable {
    case complete
    case wantRead
    case wantWrite
    case failed(TLSError)
}

/// Outcome of a non-blocking TLS read or write.
public enum TLSIO: Equatable {
    case bytes(Int)
    case wantRead
    case wantWrite
    /// The peer sent close_notify.
    case closed
    /// The peer closed TCP without close_notify (common with mail clients; not an attack on mail's own framing).
    case eof
    case failed(TLSError)
}

/// Owns one `SSL*` bound to a socket. Not thread-safe: it lives on the event loop that owns its connection.
public final class TLSSession {
    let ssl: OpaquePointer
    let socket: Int32
    private var sentCloseNotify = false
    private var handshakeDone = false
    /// Set by the verify callback when the client's certificate is refused.
    public internal(set) var verifyFailure: CertificateVerifyFailure?
    /// Ciphertext OpenSSL wrote that has not been sent yet (see `CoalescingSocketBIO`); empty between steps except
    /// for TLS 1.3 session tickets waiting for the first application data.
    var owed: [UInt8] = []
    /// True while a handshake step runs: writes and flushes are collected and sent once at its end.
    var holdingOutput = false
    /// The context this session was made from, kept alive while OpenSSL may call back into it (SNI, OCSP).
    var owner: AnyObject?

    /// Takes ownership of `ssl` (freed with the session).
    init(ssl: OpaquePointer, socket: Int32) {
        self.ssl = ssl
        self.socket = socket
        // The verify callback and the writer find this session through the SSL's ex_data and the BIO's data; the
        // session owns the SSL (which owns both BIOs), so the unretained pointers never outlive it.
        _ = SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Binds the SSL to its socket through one `CoalescingSocketBIO`, which reads and writes (one reference, both
    /// directions: SSL_set_bio takes a single reference when both are the same BIO).
    func attachSocket() throws(TLSError) {
        guard let bio = CoalescingSocketBIO.make(for: self) else { throw TLSError.fromErrorQueue("BIO_new") }
        SSL_set_bio(ssl, bio, bio)
    }

    deinit { SSL_free(ssl) }

    /// One handshake step. What it writes leaves in one `send` at its end: a whole flight, or both TLS 1.3 session
    /// tickets (those wait for the first application data or close_notify instead, when the handshake completes:
    /// the client needs nothing more from the server then). Output the socket did not take makes it `.wantWrite`.
    public func handshake() -> TLSStep {
        guard sendOwed() else { return .wantWrite }
        if handshakeDone { return .complete }
        ERR_clear_error()
        holdingOutput = true
        let rc = SSL_do_handshake(ssl)
        holdingOutput = false
        if rc == 1 {
            handshakeDone = true
            // TLS 1.2's last flight (the server's Finished) is awaited by the client: it cannot wait.
            if SSL_version(ssl) == TLS1_3_VERSION { return .complete }
            return sendOwed() ? .complete : .wantWrite
        }
        let error = SSL_get_error(ssl, rc)
        let sent = sendOwed()
        switch error {
        case SSL_ERROR_WANT_READ: return sent ? .wantRead : .wantWrite
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default: return .failed(failure("handshake"))
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSIO {
        ERR_clear_error()
        let rc = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if rc > 0 { return .bytes(Int(rc)) }
        return classify(rc, "read")
    }

    public func write(_ buffer: UnsafeRawBufferPointer) -> TLSIO {
        ERR_clear_error()
        let rc = SSL_write(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if rc > 0 { return .bytes(Int(rc)) }
        return classify(rc, "write")
    }

    /// Sends close_notify once; does not wait for the peer's (mail clients rarely answer it).
    public func sendCloseNotify() {
        guard !sentCloseNotify else { return }
        sentCloseNotify = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Bytes OpenSSL read from the socket and has not handed out yet. With read-ahead the last handshake read can
    /// take the client's first application data too; no new readiness edge will announce it.
    public var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    public var version: String { String(cString: SSL_get_version(ssl)) }

    public var cipher: String { cipherName.map { String(cString: $0) } ?? "-" }

    /// The cipher's name as OpenSSL keeps it: a string in its static cipher table, valid for the whole process.
    public var cipherName: UnsafePointer<CChar>? {
        SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }
    }

    /// Symmetric key strength, for SASL's external SSF.
    public var cipherBits: Int {
        guard let cipher = SSL_get_current_cipher(ssl) else { return 0 }
        return Int(SSL_CIPHER_get_bits(cipher, nil))
    }

    /// The verified client certificate, if the client sent one and it verified.
    public var peerIdentity: CertificateIdentity? {
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        guard SSL_get_verify_result(ssl) == X509_V_OK else { return nil }
        // The verify callback refused such certificates already; a name that is unsafe is never an identity.
        let (identity, problems) = X509Inspector.read(cert)
        return problems.isEmpty ? identity : nil
    }

    private func classify(_ rc: Int32, _ operation: String) -> TLSIO {
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL where ERR_peek_error() == 0: return .eof
        case SSL_ERROR_SSL where isUnexpectedEOF: return .eof
        default: return .failed(failure(operation))
        }
    }

    private var isUnexpectedEOF: Bool {
        ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING
    }

    private func failure(_ operation: String) -> TLSError {
        let error = TLSError.fromErrorQueue(operation)
        if let refused = verifyFailure {
            return TLSError(operation: operation, reasons: error.reasons + ["client certificate \(refused)"])
        }
        return error
    }
}
