#if canImport(Glibc)
import Glibc
#endif

/// Non-blocking read and write on a plain socket, keeping the side's readiness flag honest: a flag is cleared
/// only by EAGAIN (or a short write), and set again by the next epoll edge.
enum SocketIO {
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, readable: inout Bool, side: Side) -> IOOutcome {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .eof }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: readable = false; return .wouldBlock
            case ECONNRESET: return .failed(.reset(side))
            default: return .failed(.socketError(side, errno))
            }
        }
    }

    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, writable: inout Bool, side: Side) -> IOOutcome {
        while true {
            let n = Sockets.sendWithoutSignal(fd, buffer)
            if n >= 0 {
                if n < buffer.count { writable = false }
                return .bytes(n)
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: writable = false; return .wouldBlock
            case EPIPE, ECONNRESET: return .failed(.reset(side))
            default: return .failed(.socketError(side, errno))
            }
        }
    }
}
