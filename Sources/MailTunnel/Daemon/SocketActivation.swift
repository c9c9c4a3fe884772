#if canImport(Glibc)
import Glibc
#endif

/// systemd socket activation without libsystemd: sockets passed as fds 3… with $LISTEN_FDS/$LISTEN_FDNAMES.
struct SocketActivation {
    init(sockets: [Inherited] = []) { self.sockets = sockets }

    struct Inherited {
        var fd: Int32
        var name: String?
    }

    private(set) var sockets: [Inherited] = []

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

    /// Which inherited socket each listener takes: the socket named like the listener, first for every
    /// listener; sockets whose name matches no listener then go to the remaining listeners in order.
    func assign(listenerNames: [String]) -> [Int32?] {
        var result = [Int32?](repeating: nil, count: listenerNames.count)
        var used: Set<Int32> = []
        for (index, name) in listenerNames.enumerated() {
            if let match = sockets.first(where: { $0.name == name && !used.contains($0.fd) }) {
                result[index] = match.fd
                used.insert(match.fd)
            }
        }
        var spare = sockets.filter { socket in !used.contains(socket.fd) && !listenerNames.contains { $0 == socket.name } }
        for index in result.indices where result[index] == nil && !spare.isEmpty {
            result[index] = spare.removeFirst().fd
        }
        return result
    }
}
