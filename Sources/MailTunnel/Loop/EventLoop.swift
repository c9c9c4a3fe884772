#if canImport(Glibc)
import Glibc
#endif
import CMailTunnelShims
import Foundation
import Synchronization

/// One data-plane thread with its own epoll set (ARCHITECTURE.md: Dispatch for control, epoll for data).
/// A connection lives on one loop for its whole life, so nothing on the hot path takes a lock.
/// Sockets are registered once, edge-triggered, for both directions; readiness is tracked by the connection
/// and every operation drains to EAGAIN, so no wake-up is ever lost and no epoll_ctl churns per event.
final class EventLoop: @unchecked Sendable {
    // Only `inbox` and `liveConnections` are touched from other threads; everything else belongs to the loop thread.
    let index: Int
    private let epollFD: Int32
    private let wakeFD: Int32
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    let liveConnections = Atomic<Int>(0)

    private var handlers: [Connection?] = []
    private var connections: [Connection] = []
    private var deferred: [Connection] = []
    /// Every live connection, keyed by when its current phase may run out of time.
    private var deadlines = DeadlineHeap<Connection>()
    private(set) var now: Double = 0
    /// Shared read buffer: data is read here and written straight on; only an unwritten remainder is copied into
    /// the connection, so idle connections own no buffers at all.
    let scratch: UnsafeMutableRawBufferPointer

    static let scratchSize = 16 * 1024
    private static let edgeEvents = UInt32(EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue) | (1 << 31) // EPOLLET

    init(index: Int) throws(NetError) {
        self.index = index
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw .errno("epoll_create1") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw .errno("eventfd") }
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 16)
        var event = epoll_event()
        event.events = UInt32(EPOLLIN.rawValue)
        event.data.fd = wakeFD
        epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
    }

    static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Runs `work` on the loop thread; callable from any thread.
    func execute(_ work: @escaping @Sendable () -> Void) {
        let wasEmpty = inbox.withLock { queue in
            queue.append(work)
            return queue.count == 1
        }
        if wasEmpty {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    func start(name: String) {
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    // MARK: loop-thread API

    func register(_ connection: Connection, fd: Int32) {
        if Int(fd) >= handlers.count { handlers.append(contentsOf: repeatElement(nil, count: Int(fd) + 1024 - handlers.count)) }
        handlers[Int(fd)] = connection
        var event = epoll_event()
        event.events = Self.edgeEvents
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    /// Forget `fd` before it is closed (closing alone would also drop it from the set, unless duplicated).
    func unregister(fd: Int32) {
        guard Int(fd) < handlers.count else { return }
        handlers[Int(fd)] = nil
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    func adopt(_ connection: Connection) {
        connection.slot = connections.count
        connections.append(connection)
        liveConnections.add(1, ordering: .relaxed)
        reschedule(connection)
    }

    func release(_ connection: Connection) {
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
    func reschedule(_ connection: Connection) {
        guard connection.slot >= 0 else { return }
        deadlines.schedule(connection, at: connection.deadline)
    }

    /// Continue a connection's work after this batch of events (fairness between busy connections).
    func deferWork(_ connection: Connection) { deferred.append(connection) }

    /// Every live connection, for shutdown.
    var allConnections: [Connection] { connections }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        now = Self.monotonicNow()
        while true {
            let timeout: Int32 = deferred.isEmpty ? millisecondsToNextDeadline() : 0
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, Int32($0.count), timeout) }
            now = Self.monotonicNow()
            if count < 0 && errno != EINTR { fatalError("epoll_wait: \(String(cString: strerror(errno)))") }
            for i in 0..<max(0, Int(count)) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == wakeFD {
                    drainInbox()
                } else if Int(fd) < handlers.count, let connection = handlers[Int(fd)] {
                    connection.handle(fd: fd, events: flags)
                }
            }
            if !deferred.isEmpty {
                let batch = deferred
                deferred.removeAll(keepingCapacity: true)
                for connection in batch { connection.advance() } // the relay yielded after its budget
            }
            fireDueDeadlines()
        }
    }

    /// epoll_wait's timeout: until the earliest deadline, rounded up so that the wake-up is never early;
    /// -1 (sleep until an event) when no connection is waiting on a deadline.
    private func millisecondsToNextDeadline() -> Int32 {
        guard let next = deadlines.first?.deadline else { return -1 }
        let millis = ((next - now) * 1000).rounded(.up)
        return Int32(min(max(0, millis), Double(Int32.max)))
    }

    /// Only entries whose key has passed are looked at. An entry due early (its idle deadline moved on with
    /// traffic) is filed again at the connection's current deadline instead of firing.
    private func fireDueDeadlines() {
        while let (due, connection) = deadlines.first, due <= now {
            let current = connection.deadline
            if current > now {
                deadlines.schedule(connection, at: current)
                continue
            }
            deadlines.remove(connection)
            connection.checkDeadline(now: now)
            // A connection that lives on entered a new phase (which filed it again); this is a safety net.
            if connection.slot >= 0, connection.heapIndex < 0 {
                deadlines.schedule(connection, at: max(connection.deadline, now + 0.001))
            }
        }
    }

    private func drainInbox() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
        let work = inbox.withLock { queue in
            let taken = queue
            queue.removeAll()
            return taken
        }
        for item in work { item() }
    }
}
