#if canImport(Glibc)
internal import Glibc
#endif
internal import COpenSSL

/// The write half of a session's socket: a BIO that sends what OpenSSL writes, but can hold output back while a
/// handshake step runs so that everything the step produced leaves in one `send` (OpenSSL flushes each TLS 1.3
/// session ticket on its own), and keeps the TLS 1.3 tickets until the first application data or close_notify,
/// which then carry them in the same `send`.
///
/// Outside a handshake step nothing is held: a write first sends what is owed, then the new bytes, and reports a
/// retry unless the owed bytes are all gone, so OpenSSL never believes bytes were sent that are still here.
/// Reads are plain `read`s with OpenSSL's socket-BIO semantics (retry on EAGAIN, EOF flag on 0), done here
/// rather than by a second BIO: one BIO per session instead of two saves about 200 bytes per connection.
enum CoalescingSocketBIO {
    /// BIO_clear_retry_flags (a macro over BIO_FLAGS_RWS, itself an expression Swift does not import).
    static let retryFlags = BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY

    /// One method table for the process (OpenSSL only reads it).
    nonisolated(unsafe) static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mailtunnel socket writer") else {
            return nil
        }
        _ = BIO_meth_set_write(method) { bio, data, length in
            guard let bio, let session = CoalescingSocketBIO.session(bio) else { return -1 }
            BIO_clear_flags(bio, CoalescingSocketBIO.retryFlags)
            guard length > 0, let data else { return 0 }
            return Int32(session.bioWrite(bio, UnsafeRawBufferPointer(start: data, count: Int(length))))
        }
        _ = BIO_meth_set_read(method) { bio, data, length in
            guard let bio, let session = CoalescingSocketBIO.session(bio) else { return -1 }
            BIO_clear_flags(bio, CoalescingSocketBIO.retryFlags)
            guard length > 0, let data else { return 0 }
            return Int32(session.bioRead(bio, UnsafeMutableRawBufferPointer(start: data, count: Int(length))))
        }
        _ = BIO_meth_set_ctrl(method) { bio, command, _, _ in
            guard let bio, let session = CoalescingSocketBIO.session(bio) else { return 0 }
            switch command {
            case BIO_CTRL_EOF:
                return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0
            case BIO_CTRL_FLUSH:
                BIO_clear_flags(bio, CoalescingSocketBIO.retryFlags)
                if session.holdingOutput || session.sendOwed() { return 1 }
                BIO_set_flags(bio, BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY)
                return 0
            case BIO_CTRL_WPENDING:
                return session.owed.count
            case BIO_CTRL_PENDING:
                return 0
            default:
                return 0
            }
        }
        return method
    }()

    /// A writer for `session`, which must outlive it (the session owns the `SSL` that owns the BIO).
    static func make(for session: TLSSession) -> OpaquePointer? {
        guard let method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(session).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    private static func session(_ bio: OpaquePointer) -> TLSSession? {
        guard let data = BIO_get_data(bio) else { return nil }
        return Unmanaged<TLSSession>.fromOpaque(data).takeUnretainedValue()
    }
}

extension TLSSession {
    /// OpenSSL's read, as its socket BIO does it: EAGAIN (and EINTR) ask for a retry, 0 marks the end of input.
    func bioRead(_ bio: OpaquePointer, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = Glibc.read(socket, buffer.baseAddress, buffer.count)
        if n > 0 { return n }
        if n == 0 {
            BIO_set_flags(bio, BIO_FLAGS_IN_EOF)
        } else if Self.isTransient(errno) || errno == EINTR {
            BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
        }
        return n
    }

    /// OpenSSL's write: held while a handshake step runs; otherwise owed bytes go first, in the same `send`.
    /// Returns what OpenSSL may count as written, or -1 with the retry flag set.
    func bioWrite(_ bio: OpaquePointer, _ bytes: UnsafeRawBufferPointer) -> Int {
        if holdingOutput {
            if let stage, owed.isEmpty, staged + bytes.count <= stage.count {
                UnsafeMutableRawBufferPointer(rebasing: stage[staged...]).copyMemory(from: bytes)
                staged += bytes.count
            } else {
                owed.append(contentsOf: bytes) // after everything staged: `write(_:coalescingInto:)` keeps the order
            }
            return bytes.count
        }
        if owed.isEmpty {
            let n = sendAll(bytes)
            if n > 0 { return n }
            if n < 0 && !Self.isTransient(errno) { return -1 }
            BIO_set_flags(bio, BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY)
            return -1
        }
        // Owed bytes and the new record in one send; the record counts as written only past the owed bytes.
        let owedCount = owed.count
        owed.append(contentsOf: bytes)
        let n = owed.withUnsafeBytes { sendAll($0) }
        let failed = n < 0 && !Self.isTransient(errno)
        let sent = max(0, n)
        if sent > owedCount {
            owed.removeAll()
            return sent - owedCount
        }
        owed.removeSubrange(owedCount...)
        owed.removeSubrange(0..<sent)
        if owed.isEmpty { owed = [] }
        if failed { return -1 }
        BIO_set_flags(bio, BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY)
        return -1
    }

    /// Sends what is owed; true when nothing is left (or the socket failed, which the next operation reports).
    @discardableResult
    func sendOwed() -> Bool {
        if case .wantWrite = flushOwed() { return false }
        return true
    }

    /// One `send`, retried on EINTR only; never raises SIGPIPE.
    func sendAll(_ bytes: UnsafeRawBufferPointer) -> Int {
        while true {
            let n = send(socket, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    static func isTransient(_ code: Int32) -> Bool { code == EAGAIN || code == EWOULDBLOCK }
}
