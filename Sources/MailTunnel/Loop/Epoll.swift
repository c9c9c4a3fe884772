#if canImport(Glibc)
import Glibc
#endif
internal import CMailTunnelLinux

/// What epoll reported for one descriptor, in the engine's terms: a hang-up or an error counts as both,
/// so that the next read or write meets it and reports it.
struct Readiness: Equatable, Sendable {
    var readable: Bool
    var writable: Bool
}

/// One epoll set. The engine's only door to epoll: the relay code sees descriptors and `Readiness`, never
/// `epoll_event`, and every failure comes back as a `NetError` for the caller to act on.
final class Epoll {
    /// Which changes wake the loop.
    enum Interest {
        /// Input only, level-triggered (the loop's own wake-up descriptor).
        case input
        /// Input, output and the peer's half-close, edge-triggered: registered once per socket, and the
        /// connection drains each direction to EAGAIN, so no wake-up is lost and nothing is re-armed.
        case inputOutputEdgeTriggered

        fileprivate var events: UInt32 {
            switch self {
            case .input: return UInt32(EPOLLIN.rawValue)
            case .inputOutputEdgeTriggered:
                return UInt32(EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue) | mt_linux_epollet()
            }
        }
    }

    private let fd: Int32
    /// Filled by `epoll_wait`; allocated once, read through `ReadyEvents` until the next wait.
    private let ready: UnsafeMutableBufferPointer<epoll_event>

    init(capacity: Int = 256) throws(NetError) {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw .errno("epoll_create1") }
        ready = .allocate(capacity: capacity)
        ready.initialize(repeating: epoll_event())
    }

    deinit {
        close(fd)
        ready.deallocate()
    }

    func add(_ descriptor: Int32, _ interest: Interest) throws(NetError) {
        var event = epoll_event()
        event.events = interest.events
        event.data.fd = descriptor
        guard epoll_ctl(fd, EPOLL_CTL_ADD, descriptor, &event) == 0 else { throw .errno("epoll_ctl add fd \(descriptor)") }
    }

    func delete(_ descriptor: Int32) throws(NetError) {
        guard epoll_ctl(fd, EPOLL_CTL_DEL, descriptor, nil) == 0 else { throw .errno("epoll_ctl delete fd \(descriptor)") }
    }

    /// Waits up to `timeoutMilliseconds` (-1: until something is ready). A signal interrupting the wait is
    /// not an error: it returns no events.
    func wait(timeoutMilliseconds: Int32) throws(NetError) -> ReadyEvents {
        let count = epoll_wait(fd, ready.baseAddress, Int32(ready.count), timeoutMilliseconds)
        if count < 0 {
            if errno == EINTR { return ReadyEvents(events: UnsafeMutableBufferPointer(rebasing: ready[0..<0])) }
            throw .errno("epoll_wait")
        }
        return ReadyEvents(events: UnsafeMutableBufferPointer(rebasing: ready[0..<Int(count)]))
    }

    /// The descriptors one `wait` found ready; valid until the next `wait`.
    struct ReadyEvents: RandomAccessCollection {
        fileprivate let events: UnsafeMutableBufferPointer<epoll_event>

        var startIndex: Int { 0 }
        var endIndex: Int { events.count }

        subscript(position: Int) -> (fd: Int32, readiness: Readiness) {
            let flags = events[position].events
            let readable = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue)
            let writable = UInt32(EPOLLOUT.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue)
            return (events[position].data.fd, Readiness(readable: flags & readable != 0, writable: flags & writable != 0))
        }
    }
}
