#if canImport(Glibc)
internal import Glibc
#endif
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
    /// True while a handshake step or a coalesced write runs: writes and flushes are collected and sent once at
    /// its end.
    var holdingOutput = false
    /// During `write(_:coalescingInto:)`: the caller's buffer the records are collected in, and how much is used.
    var stage: UnsafeMutableRawBufferPointer?
    var staged = 0
    /// Set once a coalesced write left records owed; before that, owed bytes are only held TLS 1.3 tickets, which
    /// wait for the first application data on purpose.
    private var writeLeftOwed = false
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

    /// Writes `buffer` as records collected in `stage` (the event loop's buffer) and sent in one `send`: a
    /// 64 KiB read from the backend leaves as four records in one system call instead of four, so the client is
    /// woken once. What the socket does not take stays owed (`hasOwedOutput`) and goes first on the next send.
    public func write(_ buffer: UnsafeRawBufferPointer, coalescingInto stage: UnsafeMutableRawBufferPointer) -> TLSIO {
        // Held TLS 1.3 tickets ride in front of the records.
        if owed.count > stage.count / 4 { return write(buffer) }
        if !owed.isEmpty {
            owed.withUnsafeBytes { stage.copyMemory(from: $0) }
            staged = owed.count
            owed = []
        } else {
            staged = 0
        }
        self.stage = stage
        holdingOutput = true
        ERR_clear_error()
        // Partial-write mode would return after the first record; the held BIO never refuses, so without it one
        // call encrypts every record of the buffer.
        _ = mt_SSL_clear_mode(ssl, Int(SSL_MODE_ENABLE_PARTIAL_WRITE))
        let rc = SSL_write(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        _ = mt_SSL_set_mode(ssl, Int(SSL_MODE_ENABLE_PARTIAL_WRITE))
        holdingOutput = false
        self.stage = nil
        let collected = UnsafeRawBufferPointer(rebasing: stage[0..<staged])
        staged = 0
        if !collected.isEmpty {
            // Records that did not fit went to `owed` after the staged ones (see bioWrite): staged go first.
            let spilled = owed
            owed = []
            let n = sendAll(collected)
            let code = errno
            if n < 0 && !Self.isTransient(code) {
                owed = Array(collected) + spilled
                writeLeftOwed = true
                return Self.sendFailure(code)
            }
            let sent = max(0, n)
            if sent < collected.count || !spilled.isEmpty {
                owed = Array(collected[sent...]) + spilled
                if sent == collected.count { sendOwed() }
            }
        } else if !owed.isEmpty {
            sendOwed()
        }
        if !owed.isEmpty { writeLeftOwed = true }
        if rc > 0 { return .bytes(Int(rc)) }
        return classify(rc, "write")
    }

    /// Ciphertext accepted by a write that the socket has not taken yet; the side must wait for writability.
    public var hasOwedOutput: Bool { writeLeftOwed && !owed.isEmpty }

    /// Sends what a coalesced write left behind: `.bytes(0)` once nothing is owed, `.wantWrite` while the socket
    /// is full, `.eof` or `.failed` when the peer is gone (the records can never be delivered).
    public func flushOwed() -> TLSIO {
        guard !owed.isEmpty else { return .bytes(0) }
        let n = owed.withUnsafeBytes { sendAll($0) }
        let code = errno
        if n < 0 { return Self.isTransient(code) ? .wantWrite : Self.sendFailure(code) }
        owed.removeSubrange(0..<n)
        if owed.isEmpty {
            owed = [] // an idle session keeps no buffer
            return .bytes(0)
        }
        return .wantWrite
    }

    /// A `send` that failed for good: the peer is gone (`.eof`), or the socket's error.
    private static func sendFailure(_ code: Int32) -> TLSIO {
        if code == EPIPE || code == ECONNRESET { return .eof }
        return .failed(TLSError(operation: "write", reasons: [String(cString: strerror(code))]))
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
