import Logging
import Synchronization
import Testing
@testable import MailTunnel

/// Keeps what was logged, for assertions.
private struct RecordingLogHandler: LogHandler {
    let recorder: Recorder
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.lines.withLock { $0.append("\(event.level) " + LogLine.render(event, handlerMetadata: metadata)) }
    }
}

private final class Recorder: Sendable {
    let lines = Mutex<[String]>([])
}

@Suite struct EventLoopWaitFailureTests {
    /// A loop whose every epoll_wait fails logs it, backs off, and still runs work handed to it.
    @Test func failingWaitIsLoggedAndTheLoopLivesOn() async throws {
        let recorder = Recorder()
        let logger = Logger(label: "test") { _ in RecordingLogHandler(recorder: recorder) }
        let loop = try EventLoop(index: 0, logger: logger, readyCapacity: 0)
        loop.start(name: "test-failing-loop")
        let ran = Atomic<Int>(0)
        loop.execute { ran.add(1, ordering: .relaxed) }
        let deadline = ContinuousClock.now + .seconds(5)
        while ran.load(ordering: .relaxed) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(ran.load(ordering: .relaxed) == 1)
        let logged = recorder.lines.withLock { $0 }
        #expect(logged.contains { $0.hasPrefix("error") && $0.contains("event loop wait failed") && $0.contains("epoll_wait") })
    }
}
