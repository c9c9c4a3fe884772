#if canImport(Glibc)
import Glibc
#endif

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

    var isOpen: Bool { fd >= 0 }

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
        SocketIO.read(fd, into: buffer, readable: &readable, side: .backend)
    }

    mutating func write(_ buffer: UnsafeRawBufferPointer) -> IOOutcome {
        SocketIO.write(fd, buffer, writable: &writable, side: .backend)
    }
}
