#if canImport(Glibc)
import Glibc
#endif

/// The server name libsasl2 gives a session opened without one (its `get_fqhostname`: `gethostname`, put through
/// the resolver for its canonical name when it has no dot, lowercased). libsasl2 computes it again for every
/// `sasl_server_new`, which is a resolver query on the event loop that opens the session: with a slow DNS that
/// would stall every connection on the loop. Computed once at initialization instead, the same way, so the
/// default realm stays what it was.
enum ServerHostName {
    static func compute() -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let status = buffer.withUnsafeMutableBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) }
        }
        guard status == 0 else { return nil }
        var name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        if !name.contains(".") {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_flags = AI_CANONNAME
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            if getaddrinfo(name, nil, &hints, &result) == 0, let result {
                if let canonical = result.pointee.ai_canonname.map({ String(cString: $0) }),
                   canonical.contains("."), canonical.utf8.count < buffer.count {
                    name = canonical
                }
                freeaddrinfo(result)
            }
        }
        return name.lowercased()
    }
}
