#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address held by value, so it can cross threads and be logged.
/// Kept in a `sockaddr_in6` (28 bytes, which holds a `sockaddr_in` too) rather than a 128-byte
/// `sockaddr_storage`: every connection holds two of them (client and backend) for its whole life.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    var storage: sockaddr_in6
    var length: socklen_t

    /// Only AF_INET and AF_INET6 addresses reach here (accept, getsockname and getaddrinfo on TCP sockets).
    init(storage: sockaddr_storage, length: socklen_t) {
        var compact = sockaddr_in6()
        let kept = min(Int(length), MemoryLayout<sockaddr_in6>.size)
        withUnsafeBytes(of: storage) { source in
            withUnsafeMutableBytes(of: &compact) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[..<kept])) }
        }
        self.storage = compact
        self.length = socklen_t(kept)
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public var family: Int32 { Int32(storage.sin6_family) }

    /// Numeric host, without brackets.
    public var host: String {
        var copy = storage
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                _ = getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
            }
        }
        var host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // An IPv4 client on a dual-stack socket is shown as plain IPv4.
        if host.hasPrefix("::ffff:"), host.contains(".") { host.removeFirst(7) }
        return host
    }

    public var port: Int {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    public var description: String {
        let h = host
        return h.contains(":") ? "[\(h)]:\(port)" : "\(h):\(port)"
    }

    /// Resolves numeric addresses and names (once, at configuration time; never per connection).
    public static func resolve(host: String?, port: Int, passive: Bool) throws(NetError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var result: UnsafeMutablePointer<addrinfo>?
        let name = host.map { $0 == "*" ? nil : $0 } ?? nil
        let rc = getaddrinfo(name, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw NetError(operation: "resolve \(host ?? "*"):\(port)", message: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { raw in
                raw.copyMemory(from: UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: Int(info.pointee.ai_addrlen)))
            }
            let address = SocketAddress(storage: storage, length: info.pointee.ai_addrlen)
            if !addresses.contains(address) { addresses.append(address) }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}

/// A socket-level failure with errno's text.
public struct NetError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let message: String
    public init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }
    static func errno(_ operation: String, _ code: Int32 = Glibc.errno) -> NetError {
        NetError(operation: operation, message: String(cString: strerror(code)))
    }
    public var description: String { "\(operation): \(message)" }
}
