import Dispatch
import Foundation

/// Dedicated threads for work that may block for seconds: libsasl2 exchanges (saslauthd, PAM, LDAP behind it).
///
/// Not the global Dispatch queue: its threads are shared with everything else in the process and its width is
/// not ours to bound. Jobs are filed per client key and scheduled by `FairJobQueue` (one running job per client,
/// round robin between clients), so a client whose check takes seconds, or that floods AUTH from many
/// connections, holds at most one thread while everyone else's checks go on.
final class SASLWorkerPool: Sendable {
    /// Password checks wait on another process (saslauthd) or a network service, not on the CPU, so the pool is
    /// sized for concurrent waits rather than for cores: 8 threads, or twice the cores where that is more.
    static let defaultThreadCount = min(32, max(8, 2 * ProcessInfo.processInfo.activeProcessorCount))
    /// Jobs one client may have running or waiting (one per connection that is inside the gate). Generous for a
    /// NAT'd office authenticating at once, small enough that one address cannot pile up work.
    static let defaultPerClientLimit = 16

    /// The process's pool, started on first use (libsasl2 is process-wide, so is its pool).
    static let shared = SASLWorkerPool(threads: defaultThreadCount, perClientLimit: defaultPerClientLimit,
                                       totalLimit: 4096)

    let threadCount: Int
    private let queue: LockedState<FairJobQueue<@Sendable () -> Void>>
    /// One signal per key made ready; a worker waits for one, then takes that key's next job.
    private let wake = DispatchSemaphore(value: 0)

    init(threads: Int, perClientLimit: Int, totalLimit: Int) {
        threadCount = threads
        queue = LockedState(FairJobQueue(perKeyLimit: perClientLimit, totalLimit: totalLimit))
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "mailtunnel-sasl-\(index)"
            thread.start()
        }
    }

    /// Files `job` under `key`; false (nothing filed) if that client, or the pool, has too many jobs already.
    func submit(key: String, _ job: @escaping @Sendable () -> Void) -> Bool {
        let admission = queue.withLock { $0.enqueue(job, key: key) }
        switch admission {
        case .refused: return false
        case .queued(let becameReady):
            if becameReady { wake.signal() }
            return true
        }
    }

    /// Jobs filed under `key`, running or waiting.
    func filed(key: String) -> Int { queue.withLock { $0.filed(key: key) } }

    private func work() {
        while true {
            wake.wait()
            guard let (key, job) = queue.withLock({ $0.next() }) else { continue }
            job()
            if queue.withLock({ $0.finished(key: key) }) { wake.signal() }
        }
    }
}
