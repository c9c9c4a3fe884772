#if canImport(Glibc)
import Glibc
#endif
internal import CMailTunnelLinux

/// An eventfd that any thread signals to wake a loop out of `epoll_wait`; the loop drains it before it
/// looks at its inbox, so one wake-up covers every signal sent until then.
final class WakeEvent: Sendable {
    let fd: Int32

    init() throws(NetError) {
        fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw .errno("eventfd") }
    }

    deinit { close(fd) }

    func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    func drain() {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }
}
