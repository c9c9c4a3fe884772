#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// `metrics = HOST:PORT`: Prometheus text at GET /metrics and a liveness answer at GET /healthz.
/// Scrapes are rare and tiny, so each is served with short blocking I/O on a utility queue.
final class MetricsServer: @unchecked Sendable {
    // `source` is only touched on `control`.
    private let socket: Int32
    private let source: any DispatchSourceRead
    private let render: @Sendable () -> String
    /// Set on `control` when the daemon begins to stop: /healthz then answers 503, so a balancer's check takes
    /// this instance out while it drains.
    var stopping = false

    init(address: HostPort, control: DispatchQueue, render: @escaping @Sendable () -> String) throws(NetError) {
        let resolved = try SocketAddress.resolve(host: address.host ?? "127.0.0.1", port: address.port, passive: true)
        guard let first = resolved.first else { throw NetError(operation: "metrics \(address)", message: "no address") }
        socket = try Sockets.listen(on: first, backlog: 16)
        source = DispatchSource.makeReadSource(fileDescriptor: socket, queue: control)
        self.render = render
    }

    func start() {
        source.setEventHandler { [self] in
            while let (fd, _) = Sockets.accept(socket) {
                let healthy = !stopping
                DispatchQueue.global(qos: .utility).async { [render] in Self.serve(fd, healthy: healthy, render) }
            }
        }
        source.resume()
    }

    private static func serve(_ fd: Int32, healthy: Bool, _ render: () -> String) {
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192, !request.containsHeaderEnd {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            request += buffer[0..<n]
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let (status, body): (String, String)
        if line.count >= 2, line[0] == "GET" {
            switch line[1] {
            case "/metrics": (status, body) = ("200 OK", render())
            case "/healthz": (status, body) = healthy ? ("200 OK", "ok\n") : ("503 Service Unavailable", "stopping\n")
            default: (status, body) = ("404 Not Found", "not found\n")
            }
        } else {
            (status, body) = ("405 Method Not Allowed", "only GET\n")
        }
        let contentType = line.count >= 2 && line[1] == "/metrics" ? "text/plain; version=0.0.4" : "text/plain"
        let response = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        var bytes = Array(response.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            offset += n
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}
