#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import MailTunnelProtocols
import MailTunnelTLS
import Synchronization
@testable import MailTunnel

/// Drives real `Connection`s in-process: an event loop of its own, the client on a socketpair (the test holds
/// the other end, blocking with a timeout), the backend a loopback listener the test accepts from, and the
/// log lines kept for assertions. No daemon, no Python.
final class ConnectionHarness: Sendable {
    let loop: EventLoop
    let runtime: ListenerRuntime
    let log = LogRecorder()
    private let backendListener: Int32
    /// Bound of every wait (socket timeouts, the backend accept, log lines). Generous because the whole unit
    /// suite runs in parallel, also under AddressSanitizer and ThreadSanitizer on a loaded machine (5 s was
    /// once too short there); a hang still fails the test.
    static let waitSeconds = 30

    init(_ configure: (inout ListenerConfig) -> Void) throws {
        // As in the daemon: OpenSSL writes with write(2), so a peer that went away must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        backendListener = try Self.listenOnLoopback()
        let port = Self.port(of: backendListener)
        var config = ListenerConfig(name: "harness", accept: HostPort(host: "127.0.0.1", port: 10_993),
                                    connect: [HostPort(host: "127.0.0.1", port: port)], protocol: MailProtocol.none)
        config.cert = TestPKI.shared.certificate("server")
        config.key = TestPKI.shared.key("server")
        configure(&config)
        let log = self.log
        let logger = Logger(label: "harness") { _ in RecordingLogHandler(recorder: log) }
        let backends = try SocketAddress.resolve(host: "127.0.0.1", port: port, passive: false)
        runtime = ListenerRuntime(config: config, backends: backends, tls: try TLSSetup.makeContext(config, stateDir: nil, ticketKeys: TicketKeyRing(), logger: logger),
                                  logger: logger, stats: ListenerStats(name: config.name), admission: Admission())
        loop = try EventLoop(index: 0, logger: logger)
        loop.start(name: "harness-loop")
    }

    deinit { close(backendListener) }

    /// Hands one end of a new socketpair to a `Connection` on the loop; returns the client's end.
    func connectClient() throws -> Int32 {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw HarnessError("socketpair") }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        Self.setTimeouts(fds[1])
        let address = try SocketAddress.resolve(host: "127.0.0.1", port: 40_000, passive: false)[0]
        let (loop, runtime, fd) = (self.loop, self.runtime, fds[0])
        loop.execute { Connection(loop: loop, listener: runtime, fd: fd, client: address, refusal: nil).start() }
        return fds[1]
    }

    /// The backend side of the next connection mailtunnel makes (blocking, with a timeout).
    func acceptBackend() throws -> Int32 {
        var poller = pollfd(fd: backendListener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(Self.waitSeconds * 1000)) == 1 else { throw HarnessError("no backend connection") }
        let fd = accept(backendListener, nil, nil)
        guard fd >= 0 else { throw HarnessError("accept") }
        Self.setTimeouts(fd)
        return fd
    }

    /// The `connection ended` line of the next connection to end.
    func endedLine() -> String? { log.waitFor("connection ended") }

    private static func listenOnLoopback() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw HarnessError("listen") }
        return fd
    }

    private static func port(of fd: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func setTimeouts(_ fd: Int32) {
        var timeout = timeval(tv_sec: Self.waitSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Keeps what was logged, for assertions.
final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    /// Everything recorded so far.
    var all: [String] { lines.withLock { $0 } }

    /// The first line containing `text` that no earlier call returned, waiting up to `waitSeconds` for it.
    func waitFor(_ text: String) -> String? {
        let deadline = ContinuousClock.now + .seconds(ConnectionHarness.waitSeconds)
        while ContinuousClock.now < deadline {
            let found: String? = lines.withLock { all in
                guard let index = all.firstIndex(where: { $0.contains(text) }) else { return nil }
                return all.remove(at: index)
            }
            if let found { return found }
            usleep(10_000)
        }
        return nil
    }
}

/// Records every log line as `<level> <rendered line>`, as the daemon's handlers render it.
struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // Rendered as the daemon's handlers render it, so tests read the fields a user would.
        recorder.append("\(event.level) " + LogLine.render(event, handlerMetadata: metadata))
    }
}
