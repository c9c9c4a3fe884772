#if canImport(Glibc)
import Glibc
#endif

/// systemd socket activation without libsystemd: sockets passed as fds 3… with $LISTEN_FDS/$LISTEN_FDNAMES.
struct SocketActivation {
    struct Inherited {
        var fd: Int32
        var name: String?
    }

    private(set) var sockets: [Inherited] = []
    private var taken: Set<Int32> = []

    /// Reads and clears the environment, so child processes never believe the sockets are theirs.
    static func fromEnvironment() -> SocketActivation {
        var activation = SocketActivation()
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }), Int32(pidText) == getpid(),
              let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }), let count = Int(countText), count > 0
        else { return activation }
        let names = getenv("LISTEN_FDNAMES").map { String(cString: $0).split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        for index in 0..<count {
            let fd = Int32(3 + index)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            activation.sockets.append(Inherited(fd: fd, name: index < names.count ? names[index] : nil))
        }
        return activation
    }

    /// The socket for a listener: the one named like it, else the one at its position among the listeners.
    mutating func take(name: String, position: Int) -> Int32? {
        if let match = sockets.first(where: { $0.name == name && !taken.contains($0.fd) }) {
            taken.insert(match.fd)
            return match.fd
        }
        let unnamed = sockets.allSatisfy { $0.name == nil || $0.name == "unknown" || $0.name == "" }
        if unnamed || sockets.count == 1, position < sockets.count, !taken.contains(sockets[position].fd) {
            taken.insert(sockets[position].fd)
            return sockets[position].fd
        }
        return nil
    }
}
