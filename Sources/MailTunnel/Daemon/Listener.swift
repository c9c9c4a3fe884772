#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// A listener's sockets, accepted on by the event loops themselves: every loop watches every listening socket and
/// accepts a few clients each time it wakes, and a client lives on the loop that accepted it. Nothing is handed
/// between threads, so a new connection costs no lock, no futex and no eventfd wake-up (ARCHITECTURE.md: the
/// syscalls per connection before and after). The control queue only starts, reconfigures and stops listeners.
final class Listener: Sendable {
    /// Replaced on reload; connections already accepted keep the runtime they started with.
    var runtime: ListenerRuntime {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    private let current: LockedState<ListenerRuntime>
    private let sockets: [Int32]
    private let loops: [EventLoop]
    private let stopped = Atomic<Bool>(false)
    /// Loops that have still to take the last clients from a stopped listener's backlog and let go of its sockets:
    /// a stop waits for them as for live connections (those clients are about to be).
    let pendingHandoffs = Atomic<Int>(0)
    /// Sockets handed over by systemd are shared with it (it keeps listening across restarts): never shut down.
    private let inherited: Bool
    /// Per socket: accept is failing for lack of descriptors (one log line per episode, not per retry or loop).
    private let starved: LockedState<[Bool]>
    private let drops = LockedState(DropLog())
    /// Clients one wake-up of one loop accepts at most; the rest stay in the backlog for the next wake-up, of this
    /// loop or of another that is idle.
    static var acceptBudget: Int { 16 }

    init(runtime: ListenerRuntime, sockets: [Int32], loops: [EventLoop], inherited: Bool = false) {
        self.current = LockedState(runtime)
        self.sockets = sockets
        self.loops = loops
        self.inherited = inherited
        self.starved = LockedState(sockets.map { _ in false })
    }

    /// Binds every address `accept` names (both IPv4 and IPv6 for "all interfaces").
    static func bind(_ config: ListenerConfig) throws(NetError) -> [Int32] {
        let addresses = try SocketAddress.resolve(host: config.accept.host, port: config.accept.port, passive: true)
        var sockets: [Int32] = []
        var firstError: NetError?
        for address in addresses {
            do {
                sockets.append(try Sockets.listen(on: address, reusePort: config.reusePort))
            } catch {
                // A machine without IPv6 still serves IPv4 for "all interfaces"; an explicit address must bind.
                if firstError == nil { firstError = error }
            }
        }
        if sockets.isEmpty || (config.accept.host != nil && firstError != nil) {
            sockets.forEach { close($0) }
            throw firstError ?? NetError(operation: "bind \(config.accept)", message: "no address")
        }
        return sockets
    }

    func start() {
        for loop in loops {
            loop.execute { [self, unowned loop] in
                for index in sockets.indices { watch(index, on: loop) }
            }
        }
    }

    /// Stops accepting: every loop forgets the sockets and takes the clients whose connection the kernel already
    /// completed (closing would reset them); the last one drains once more, and with `reuse-port` shuts each socket
    /// down, which takes it out of the port at once (the kernel sends every new connection to the other
    /// processes), then closes them.
    /// `whenClosed` runs on a loop once the sockets are closed: from then on a new client is refused by the kernel.
    func stop(whenClosed: (@Sendable () -> Void)? = nil) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        pendingHandoffs.store(loops.count, ordering: .sequentiallyConsistent)
        let loopsLeft = Countdown(loops.count)
        for loop in loops {
            loop.execute { [self, unowned loop] in
                for index in sockets.indices {
                    loop.unwatchListening(sockets[index])
                    acceptPending(index, on: loop, draining: true)
                }
                if loopsLeft.done() {
                    for index in sockets.indices {
                        acceptPending(index, on: loop, draining: true)
                        if runtime.config.reusePort && !inherited { shutdown(sockets[index], Int32(SHUT_RDWR)) }
                        close(sockets[index])
                    }
                    whenClosed?()
                }
                // After the clients taken here were counted on this loop, so a reader that sees this sees them.
                pendingHandoffs.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    /// On `loop`'s thread.
    private func watch(_ index: Int, on loop: EventLoop) {
        guard !stopped.load(ordering: .acquiring) else { return }
        do {
            try loop.watchListening(sockets[index]) { [self, unowned loop] in acceptPending(index, on: loop) }
        } catch {
            runtime.logger.error("listening socket not watched", metadata: [
                "listener": "\(runtime.config.name)", "loop": "\(loop.index)", "error": "\(error)",
            ])
        }
    }

    /// On `loop`'s thread: accepts up to `acceptBudget` clients (all of them when `draining` a stopped listener)
    /// and starts each on this loop.
    private func acceptPending(_ index: Int, on loop: EventLoop, draining: Bool = false) {
        var budget = draining ? Int.max : Self.acceptBudget
        while budget > 0 {
            guard let (fd, address) = Sockets.accept(sockets[index]) else {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Stopping: the socket is about to close; nothing to pause for.
                    if draining { return }
                    return pause(index, on: loop)
                default: return
                }
            }
            budget -= 1
            let runtime = self.runtime
            if starved.withLock({ was in defer { was[index] = false }; return was[index] }) {
                runtime.logger.warning("accept resumed", metadata: ["listener": "\(runtime.config.name)"])
            }
            let refusal: String?
            switch runtime.enter(host: address.host) {
            case .admit: refusal = nil
            case .refuse(let reason): refusal = reason
            case .drop(let reason):
                // Over a limit with enough refusals already in flight: no handshake, no descriptor kept.
                close(fd)
                logDrop(runtime, address, reason)
                continue
            }
            Connection(loop: loop, listener: runtime, fd: fd, client: address, refusal: refusal).start()
        }
    }

    /// Out of descriptors: this loop stops watching the socket for a moment instead of spinning on a socket that
    /// stays readable. The pause is kept by the loop, not a Dispatch timer: libdispatch may need a new descriptor
    /// for its first timer, and there is none now. Watched again, the socket reports the clients still queued.
    private func pause(_ index: Int, on loop: EventLoop) {
        let first = starved.withLock { was in defer { was[index] = true }; return !was[index] }
        if first {
            runtime.logger.warning("accept paused", metadata: [
                "listener": "\(runtime.config.name)", "error": "\(String(cString: strerror(errno)))",
            ])
        }
        loop.unwatchListening(sockets[index])
        loop.execute(after: .milliseconds(250)) { [self, unowned loop] in watch(index, on: loop) }
    }

    private func logDrop(_ runtime: ListenerRuntime, _ address: SocketAddress, _ reason: String) {
        guard let unlogged = drops.withLock({ $0.take(now: .now) }) else { return }
        runtime.logger.warning("connection dropped", metadata: [
            "listener": "\(runtime.config.name)", "client": "\(address)", "reason": "\(reason)",
            "unlogged_since_last": "\(unlogged)",
        ])
    }
}

/// Sockets closed over a limit are logged at most once a second; the rest are counted into the next line.
private struct DropLog {
    var lastLogged: ContinuousClock.Instant?
    var unlogged = 0

    /// The count to report when this drop is to be logged; nil when it is only counted.
    mutating func take(now: ContinuousClock.Instant) -> Int? {
        if let lastLogged, now - lastLogged < .seconds(1) { unlogged += 1; return nil }
        lastLogged = now
        defer { unlogged = 0 }
        return unlogged
    }
}

/// How many loops have still to let go of a stopped listener's sockets.
final class Countdown: Sendable {
    private let left: Atomic<Int>
    init(_ count: Int) { left = Atomic(count) }
    /// True for the last caller.
    func done() -> Bool { left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
}
