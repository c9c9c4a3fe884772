#if canImport(Glibc)
import Glibc
#endif
internal import CMailTunnelLinux

/// Thin wrappers over the socket calls the daemon makes, all non-blocking and close-on-exec.
enum Sockets {
    /// `reusePort`: SO_REUSEPORT, so other processes (a new binary taking over, one per NUMA node) may bind the
    /// same address; the kernel spreads new connections over all of them.
    static func listen(on address: SocketAddress, reusePort: Bool = false, backlog: Int32 = 1024) throws(NetError) -> Int32 {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .errno("socket") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if reusePort, setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            let error = NetError.errno("SO_REUSEPORT \(address)")
            close(fd)
            throw error
        }
        if address.family == AF_INET6 {
            // `[::]:993` should not silently also take IPv4; operators list both if they want both.
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        guard bound == 0 else {
            let error = NetError.errno("bind \(address)")
            close(fd)
            throw error
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let error = NetError.errno("listen \(address)")
            close(fd)
            throw error
        }
        return fd
    }

    enum ConnectStart {
        case connected(Int32)
        case inProgress(Int32)
        case failed(NetError)
    }

    static func startConnect(to address: SocketAddress) -> ConnectStart {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(.errno("socket")) }
        setNoDelay(fd)
        let rc = address.withSockaddr { connect(fd, $0, $1) }
        if rc == 0 { return .connected(fd) }
        if errno == EINPROGRESS { return .inProgress(fd) }
        let error = NetError.errno("connect \(address)")
        close(fd)
        return .failed(error)
    }

    /// The outcome of a non-blocking connect once the socket turned writable.
    static func connectResult(_ fd: Int32) -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
        return error
    }

    static func setNoDelay(_ fd: Int32) {
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: storage, length: length) : nil
    }

    /// Accepts one pending connection; nil with errno set when none is pending or on error.
    static func accept(_ listener: Int32) -> (Int32, SocketAddress)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                mt_linux_accept4(listener, $0, &length, mt_linux_sock_nonblock() | mt_linux_sock_cloexec())
            }
        }
        guard fd >= 0 else { return nil }
        return (fd, SocketAddress(storage: storage, length: length))
    }

    /// send(2) with MSG_NOSIGNAL: a vanished peer is EPIPE, never SIGPIPE. Returns what send returns (errno set on -1).
    static func sendWithoutSignal(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
        mt_linux_send_nosignal(fd, buffer.baseAddress, buffer.count)
    }
}
