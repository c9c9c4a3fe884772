#if canImport(Glibc)
import Glibc
#endif
import MailTunnelTLS

/// The backend socket of a connection, and which of the configured backends it is (failover walks the list).
struct BackendSide {
    private(set) var fd: Int32 = -1
    /// The configured backend tried now; moves on when one fails.
    private(set) var index = 0
    private(set) var address: SocketAddress?
    /// Why each backend tried before failed (`connect 127.0.0.1:143: Connection refused`), for the log line.
    var failures: [String] = []
    var readable = true
    var writable = true
    /// Client mode: the TLS session towards the server once its handshake is done; bytes then go through it.
    private(set) var session: TLSSession?
    /// Client mode: the session from the start of its handshake (to release it at the end, however it went).
    var tlsStarted: TLSSession?
    /// Client mode: whether that handshake resumed a kept session (for the log line).
    private(set) var resumed = false
    // TLS may need the opposite direction to make progress (as on the client side).
    private var readWantsWrite = false
    private var writeWantsRead = false

    var isOpen: Bool { fd >= 0 }
    var canRead: Bool { readWantsWrite ? writable : readable }
    var canWrite: Bool { writeWantsRead ? readable : writable }

    mutating func handshakeCompleted(_ session: TLSSession) {
        self.session = session
        resumed = session.sessionReused
        // Read-ahead may have pulled the server's first data in with its Finished; no new edge will tell.
        if session.hasBufferedInput { readable = true }
    }

    /// Sends close_notify once, if TLS is up.
    func sendCloseNotify() { session?.sendCloseNotify() }

    mutating func adopt(_ fd: Int32, _ address: SocketAddress) {
        self.fd = fd
        self.address = address
        readable = true
        writable = true
    }

    /// Closes this backend's socket (the caller unregistered it) and moves on to the next configured one.
    mutating func dropAndMoveOn() {
        close(fd)
        fd = -1
        address = nil
        index += 1
    }

    /// A backend that could not even start connecting: the next one.
    mutating func skip() { index += 1 }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome {
        guard let session else { return SocketIO.read(fd, into: buffer, readable: &readable, side: .backend) }
        return SocketIO.read(session, into: buffer, readable: &readable, writable: &writable,
                             readWantsWrite: &readWantsWrite, side: .backend)
    }

    mutating func write(_ buffer: UnsafeRawBufferPointer) -> IOOutcome {
        guard let session else { return SocketIO.write(fd, buffer, writable: &writable, side: .backend) }
        return SocketIO.write(session, buffer, readable: &readable, writable: &writable,
                              writeWantsRead: &writeWantsRead, side: .backend)
    }
}
