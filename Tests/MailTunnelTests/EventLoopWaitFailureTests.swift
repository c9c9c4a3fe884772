import Logging
import Synchronization
import Testing
@testable import MailTunnel

@Suite struct EventLoopWaitFailureTests {
    /// A loop whose every epoll_wait fails logs it, backs off, and still runs work handed to it.
    @Test func failingWaitIsLoggedAndTheLoopLivesOn() async throws {
        let recorder = LogRecorder()
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
        let logged = recorder.all
        #expect(logged.contains { $0.hasPrefix("error") && $0.contains("event loop wait failed") && $0.contains("epoll_wait") })
    }
}
