#if canImport(Glibc)
import Glibc
#endif
internal import CMailTunnelLinux
import Foundation
import Logging
import Synchronization

/// One data-plane thread with its own epoll set (ARCHITECTURE.md: Dispatch for control, epoll for data).
/// A connection lives on one loop for its whole life, so nothing on the hot path takes a lock.
/// Sockets are registered once, edge-triggered, for both directions; readiness is tracked by the connection
/// and every operation drains to EAGAIN, so no wake-up is ever lost and no epoll_ctl churns per event.
/// The loop knows what it runs only as `Client` (the engine's is `Connection`: `EventLoop` in Relay/), so this
/// folder never depends on the relay code above it.
final class EpollLoop<Client: EventLoopClient>: @unchecked Sendable {
    // Only `inbox` and `liveConnections` are touched from other threads; everything else belongs to the loop thread.
    let index: Int
    private let epoll: Epoll
    private let wake: WakeEvent
    private let logger: Logger
    private let inbox = LockedState<[@Sendable () -> Void]>([])
    let liveConnections = Atomic<Int>(0)

    private var handlers: [Client?] = []
    /// Listening sockets this loop accepts on (Daemon/Listener.swift), and what to run when one is readable.
    private var acceptors: [Int32: () -> Void] = [:]
    private var connections: [Client] = []
    private var deferred: [Client] = []
    /// Every live connection, keyed by when its current phase may run out of time.
    private var deadlines = DeadlineHeap<Client>()
    /// The loop's clock, read once per wake-up: every deadline and connection timing is an instant of it.
    private(set) var now = ContinuousClock.now
    /// Work to run at a later instant (rare: the listeners' pause after EMFILE), kept on the loop because the
    /// loop's own wake-up needs no new descriptor, unlike a Dispatch timer created while descriptors ran out.
    private var timedWork: [(at: ContinuousClock.Instant, work: @Sendable () -> Void)] = []
    /// Shared read buffer: data is read here and written straight on; only an unwritten remainder is copied into
    /// the connection, so idle connections own no buffers at all.
    let scratch: UnsafeMutableRawBufferPointer

    /// Four TLS records: a backend read this size leaves as one coalesced `send` of four records, and up to four
    /// client records reach the backend in one write (fewer wake-ups of the peers: see BENCHMARKS.md).
    static var scratchSize: Int { 64 * 1024 }
    /// Where a TLS write of up to `scratchSize` collects its records (plus headers, tags and held tickets).
    let tlsStaging: UnsafeMutableRawBufferPointer
    /// The longest pause after a failing `epoll_wait` (the pause doubles from 10 ms while it keeps failing).
    static var maxWaitBackoffMilliseconds: UInt32 { 1000 }

    /// `readyCapacity`: how many ready descriptors one wait reports at most (tests pass 0 to make every wait fail).
    init(index: Int, logger: Logger, readyCapacity: Int = 256) throws(NetError) {
        self.index = index
        self.logger = logger
        epoll = try Epoll(capacity: readyCapacity)
        wake = try WakeEvent()
        try epoll.add(wake.fd, .input)
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 16)
        tlsStaging = .allocate(byteCount: Self.scratchSize + 8 * 1024, alignment: 16)
    }

    /// Runs `work` on the loop thread once `delay` has passed; callable from any thread.
    func execute(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        execute { [self] in timedWork.append((now + delay, work)) }
    }

    /// Runs `work` on the loop thread; callable from any thread.
    func execute(_ work: @escaping @Sendable () -> Void) {
        let wasEmpty = inbox.withLock { queue in
            queue.append(work)
            return queue.count == 1
        }
        if wasEmpty { wake.signal() }
    }

    func start(name: String) {
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    // MARK: loop-thread API

    /// Watches `fd` for `connection`. On failure nothing is registered and the caller closes the connection.
    func register(_ connection: Client, fd: Int32) throws(NetError) {
        try epoll.add(fd, .inputOutputEdgeTriggered)
        if Int(fd) >= handlers.count { handlers.append(contentsOf: repeatElement(nil, count: Int(fd) + 1024 - handlers.count)) }
        handlers[Int(fd)] = connection
    }

    /// Forget `fd`; every caller closes it right after. Closing it takes it out of the epoll set as well (a
    /// connection's descriptors are never duplicated), so no `epoll_ctl` is spent on it: two system calls fewer
    /// per connection. A descriptor this loop never registered is left alone.
    func unregister(fd: Int32) {
        guard fd >= 0, Int(fd) < handlers.count, handlers[Int(fd)] != nil else { return }
        handlers[Int(fd)] = nil
    }

    /// Watches a listening socket (level-triggered: what is left in its backlog wakes the loop again). Every loop
    /// watches it; a loop that is busy is not waiting, so an idle one takes the new clients.
    func watchListening(_ fd: Int32, onReadable: @escaping () -> Void) throws(NetError) {
        try epoll.add(fd, .input)
        acceptors[fd] = onReadable
    }

    /// Stops watching a listening socket (before it is closed, or while accept is paused).
    func unwatchListening(_ fd: Int32) {
        guard acceptors.removeValue(forKey: fd) != nil else { return }
        try? epoll.delete(fd)
    }

    func adopt(_ connection: Client) {
        adoptedSinceTrim += 1
        connection.slot = connections.count
        connections.append(connection)
        liveConnections.add(1, ordering: .relaxed)
        reschedule(connection)
    }

    func release(_ connection: Client) {
        let slot = connection.slot
        guard slot >= 0, slot < connections.count, connections[slot] === connection else { return }
        let last = connections.removeLast()
        if slot < connections.count {
            connections[slot] = last
            last.slot = slot
        }
        connection.slot = -1
        liveConnections.subtract(1, ordering: .relaxed)
        deadlines.remove(connection)
    }

    /// The connection's deadline may have come earlier (a new phase): file it at its current one.
    func reschedule(_ connection: Client) {
        guard connection.slot >= 0, let deadline = connection.deadline else { return }
        deadlines.schedule(connection, at: deadline)
    }

    /// Continue a connection's work after this batch of events (fairness between busy connections).
    func deferWork(_ connection: Client) { deferred.append(connection) }

    /// Every live connection, for shutdown.
    var allConnections: [Client] { connections }

    private func run() {
        now = .now
        var backoffMilliseconds: UInt32 = 0
        while true {
            var timeout: Int32 = deferred.isEmpty ? millisecondsToNextDeadline() : 0
            let trimDue = adoptedSinceTrim >= Self.trimAfterConnections && timeout != 0
            if trimDue { timeout = timeout < 0 ? Self.quietMilliseconds : min(timeout, Self.quietMilliseconds) }
            let ready: Epoll.ReadyEvents
            do {
                ready = try epoll.wait(timeoutMilliseconds: timeout)
                backoffMilliseconds = 0
                if trimDue && ready.isEmpty { giveBackFreedMemory() }
            } catch {
                // Not expected to happen at all; the loop stays alive (its connections keep their deadlines)
                // rather than take the whole daemon down, and pauses so a persistent failure cannot spin.
                backoffMilliseconds = min(max(10, backoffMilliseconds * 2), Self.maxWaitBackoffMilliseconds)
                logger.error("event loop wait failed", metadata: [
                    "loop": "\(index)", "error": "\(error)", "retry_in_ms": "\(backoffMilliseconds)",
                ])
                usleep(backoffMilliseconds * 1000)
                now = .now
                drainInbox()
                fireDueDeadlines()
                continue
            }
            now = .now
            for (fd, readiness) in ready {
                if fd == wake.fd {
                    drainInbox()
                } else if Int(fd) < handlers.count, let connection = handlers[Int(fd)] {
                    connection.handle(fd: fd, readiness: readiness)
                } else if let acceptor = acceptors[fd] {
                    acceptor()
                }
            }
            if !deferred.isEmpty {
                let batch = deferred
                deferred.removeAll(keepingCapacity: true)
                for connection in batch { connection.advance() } // the relay yielded after its budget
            }
            fireDueDeadlines()
            runDueTimedWork()
        }
    }

    /// A burst of handshakes leaves free memory between the sessions that stay (each handshake briefly holds
    /// buffers of tens of KiB); malloc keeps it. Once this loop has been quiet for `quietMilliseconds` after
    /// `trimAfterConnections` new connections, it hands the free pages back to the kernel. A loop that stays busy
    /// never trims, so the lock malloc_trim takes on each arena never delays traffic.
    private var adoptedSinceTrim = 0
    static var trimAfterConnections: Int { 256 }
    static var quietMilliseconds: Int32 { 100 }

    private func giveBackFreedMemory() {
        adoptedSinceTrim = 0
        _ = mt_linux_malloc_trim(0)
    }

    private func runDueTimedWork() {
        guard timedWork.contains(where: { $0.at <= now }) else { return }
        let due = timedWork.filter { $0.at <= now }
        timedWork.removeAll { $0.at <= now }
        for item in due { item.work() }
    }

    /// epoll_wait's timeout: until the earliest deadline, rounded up so that the wake-up is never early;
    /// -1 (sleep until an event) when no connection is waiting on a deadline.
    private func millisecondsToNextDeadline() -> Int32 {
        let nextTimed = timedWork.map(\.at).min()
        guard let next = [deadlines.first?.deadline, nextTimed].compactMap({ $0 }).min() else { return -1 }
        let remaining = next - now
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        guard seconds < Int64(Int32.max) / 1000 else { return Int32.max }
        return Int32(seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    /// Only entries whose key has passed are looked at. An entry due early (its idle deadline moved on with
    /// traffic) is filed again at the connection's current deadline instead of firing.
    private func fireDueDeadlines() {
        while let (due, connection) = deadlines.first, due <= now {
            if let current = connection.deadline, current > now {
                deadlines.schedule(connection, at: current)
                continue
            }
            deadlines.remove(connection)
            connection.checkDeadline(now: now)
            // A connection that lives on entered a new phase (which filed it again); this is a safety net.
            if connection.slot >= 0, connection.heapIndex < 0, let deadline = connection.deadline {
                deadlines.schedule(connection, at: max(deadline, now + .milliseconds(1)))
            }
        }
    }

    private func drainInbox() {
        wake.drain()
        let work = inbox.withLock { queue in
            let taken = queue
            queue.removeAll()
            return taken
        }
        for item in work { item() }
    }
}
