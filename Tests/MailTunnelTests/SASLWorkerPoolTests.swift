import Dispatch
import Foundation
import Synchronization
import Testing
@testable import MailTunnel

/// The pool's threads: a client whose job blocks holds one thread; other clients run meanwhile.
@Suite struct SASLWorkerPoolTests {
    @Test func blockedClientHoldsOneThreadOnly() {
        let pool = SASLWorkerPool(threads: 3, perClientLimit: 8, totalLimit: 64)
        let release = DispatchSemaphore(value: 0)
        let running = Mutex<(now: Int, most: Int)>((0, 0))
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<5 {
            #expect(pool.submit(key: "A") {
                running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                release.wait()
                running.withLock { $0.now -= 1 }
                done.signal()
            })
        }
        let otherRan = DispatchSemaphore(value: 0)
        #expect(pool.submit(key: "B") { otherRan.signal() })
        #expect(otherRan.wait(timeout: .now() + 5) == .success, "B waited behind A's blocked job")
        #expect(pool.filed(key: "A") == 5)
        for _ in 0..<5 {
            release.signal()
            #expect(done.wait(timeout: .now() + 5) == .success)
        }
        #expect(running.withLock { $0.most } == 1)
        // The worker files the last job as finished just after it signalled; wait for that, boundedly.
        let deadline = DispatchTime.now() + 5
        while pool.filed(key: "A") > 0 && DispatchTime.now() < deadline { usleep(1_000) }
        #expect(pool.filed(key: "A") == 0)
    }

    @Test func refusesBeyondTheClientLimit() {
        let pool = SASLWorkerPool(threads: 1, perClientLimit: 2, totalLimit: 64)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        #expect(pool.submit(key: "A") { release.wait(); done.signal() })
        #expect(pool.submit(key: "A") { done.signal() })
        #expect(!pool.submit(key: "A") { Issue.record("a refused job ran") })
        release.signal()
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(done.wait(timeout: .now() + 5) == .success)
    }
}
