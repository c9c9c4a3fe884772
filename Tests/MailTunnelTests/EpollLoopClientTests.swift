#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import Testing
@testable import MailTunnel

/// A client that records what the loop asked of it (touched on the loop thread only; read through `events`).
private final class RecordingClient: EventLoopClient, @unchecked Sendable {
    var slot = -1
    var heapIndex = -1
    var deadline: ContinuousClock.Instant?
    let events = Mutex<[String]>([])

    init(deadline: ContinuousClock.Instant?) { self.deadline = deadline }

    func handle(fd: Int32, readiness: Readiness) {
        events.withLock { $0.append(readiness.readable ? "readable" : "writable") }
    }

    func advance() { events.withLock { $0.append("advance") } }

    func checkDeadline(now: ContinuousClock.Instant) {
        events.withLock { $0.append("deadline") }
        deadline = nil
    }
}

/// The loop runs any `EventLoopClient`, so it can be driven without a `Connection`.
@Suite struct EpollLoopClientTests {
    @Test func theLoopDeliversReadinessAndDeadlinesToItsClient() async throws {
        let loop = try EpollLoop<RecordingClient>(index: 0, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        loop.start(name: "test-client-loop")
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        defer { fds.forEach { close($0) } }
        let client = RecordingClient(deadline: .now + .milliseconds(50))
        let local = fds[0]
        loop.execute {
            try? loop.register(client, fd: local)
            loop.adopt(client)
        }
        _ = write(fds[1], "x", 1)
        let give = ContinuousClock.now + .seconds(5)
        while client.events.withLock({ !($0.contains("readable") && $0.contains("deadline")) }), ContinuousClock.now < give {
            try await Task.sleep(for: .milliseconds(10))
        }
        let events = client.events.withLock { $0 }
        #expect(events.contains("readable"))
        #expect(events.contains("deadline"))
        #expect(loop.liveConnections.load(ordering: .relaxed) == 1)
    }
}
