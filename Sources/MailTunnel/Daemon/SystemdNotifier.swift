#if canImport(Glibc)
import Glibc
#endif

/// sd_notify without libsystemd: one datagram per state change to $NOTIFY_SOCKET (path or abstract "@name").
enum SystemdNotifier {
    static func notify(_ state: String) {
        guard let raw = getenv("NOTIFY_SOCKET") else { return }
        var path = Array(String(cString: raw).utf8)
        guard !path.isEmpty, path.count < 108 else { return }
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        var message = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
                sendto(fd, &message, message.count, Int32(MSG_NOSIGNAL), sockaddr, length)
            }
        }
    }

    /// Half of $WATCHDOG_USEC if systemd asked for keep-alives. An integer, as libsystemd's sd_watchdog_enabled reads it.
    static var watchdogInterval: Duration? {
        guard let raw = getenv("WATCHDOG_USEC"), let usec = Int64(String(cString: raw)), usec > 0 else { return nil }
        return .microseconds(usec) / 2
    }
}
