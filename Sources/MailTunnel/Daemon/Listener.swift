#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import Synchronization

/// The control-plane side of a listener: one Dispatch read source per listening socket, never churned,
/// accepting until EAGAIN and handing each socket to an event loop that owns it from then on.
/// `@unchecked Sendable`: the Dispatch sources are only touched on `queue` (the control queue) after init.
final class Listener: @unchecked Sendable {
    /// Replaced on reload; connections already accepted keep the runtime they started with.
    var runtime: ListenerRuntime
    private let sockets: [Int32]
    private let sources: [any DispatchSourceRead]
    private let loops: [EventLoop]
    private let nextLoop = Atomic<Int>(0)
    /// Sockets accepted and on their way to a loop, not yet counted in its `liveConnections`: a stop must wait
    /// for them too (those taken from the backlog just before the socket closes are exactly such).
    let pendingHandoffs = Atomic<Int>(0)
    private let queue: DispatchQueue
    /// Per socket: accept is failing for lack of descriptors (one log line per episode, not per retry).
    private var starved: [Bool]
    private var started = false
    /// Sockets handed over by systemd are shared with it (it keeps listening across restarts): never shut down.
    private let inherited: Bool
    /// Sockets closed over a limit are logged at most once a second; the rest are counted into the next line.
    private var lastDropLog: ContinuousClock.Instant?
    private var unloggedDrops = 0

    init(runtime: ListenerRuntime, sockets: [Int32], loops: [EventLoop], queue: DispatchQueue, inherited: Bool = false) {
        self.runtime = runtime
        self.inherited = inherited
        self.sockets = sockets
        self.loops = loops
        self.queue = queue
        self.sources = sockets.map { DispatchSource.makeReadSource(fileDescriptor: $0, queue: queue) }
        self.starved = sockets.map { _ in false }
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

    /// A listener built but never started (a later step of the start or of a reload failed) must still give
    /// its sources back the way Dispatch requires, cancelled and activated: releasing an inactive source kills
    /// the process. Its sockets are closed by whoever bound them.
    deinit {
        guard !started else { return }
        for source in sources {
            source.cancel()
            source.resume()
        }
    }

    func start() {
        started = true
        for (index, source) in sources.enumerated() {
            source.setEventHandler { [self] in acceptPending(index) }
            source.resume()
        }
    }

    /// Stops accepting at once. Clients whose connection the kernel already completed are taken first (closing
    /// would reset them); with `reuse-port`, `shutdown` then takes each socket out of the port at once, so the
    /// kernel sends every new connection to the other processes. The descriptors close when the sources are
    /// cancelled (Dispatch owns them until then).
    func stop() {
        for (index, (socket, source)) in zip(sockets, sources).enumerated() {
            if started { acceptPending(index, draining: true) }
            if runtime.config.reusePort && !inherited { shutdown(socket, Int32(SHUT_RDWR)) }
            source.setCancelHandler { close(socket) }
            source.cancel()
        }
    }

    private func acceptPending(_ index: Int, draining: Bool = false) {
        let socket = sockets[index]
        while true {
            guard let (fd, address) = Sockets.accept(socket) else {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Stopping: the socket is about to close; nothing to pause for.
                    if draining { return }
                    // Out of descriptors: pause this source briefly instead of spinning on a socket that stays readable.
                    if !starved[index] {
                        starved[index] = true
                        runtime.logger.warning("accept paused", metadata: [
                            "listener": "\(runtime.config.name)", "error": "\(String(cString: strerror(errno)))",
                        ])
                    }
                    sources[index].suspend()
                    // Clients already queued in the backlog raise no new event after the resume, so accept
                    // them right away instead of waiting for one.
                    // The delay is kept by an event loop, not a Dispatch timer: libdispatch may need a new
                    // descriptor for its first timer, and there is none now, so the pause would never end.
                    loops[0].execute(after: .milliseconds(250)) { [self] in
                        queue.async { [self] in
                            sources[index].resume()
                            acceptPending(index)
                        }
                    }
                    return
                default:
                    return
                }
            }
            if starved[index] {
                starved[index] = false
                runtime.logger.warning("accept resumed", metadata: ["listener": "\(runtime.config.name)"])
            }
            let runtime = self.runtime
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
            let loop = loops[nextLoop.add(1, ordering: .relaxed).oldValue % loops.count]
            pendingHandoffs.add(1, ordering: .sequentiallyConsistent)
            loop.execute { [self] in
                Connection(loop: loop, listener: runtime, fd: fd, client: address, refusal: refusal).start()
                // After start() counted it on the loop, so a reader that sees this sees that.
                pendingHandoffs.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    private func logDrop(_ runtime: ListenerRuntime, _ address: SocketAddress, _ reason: String) {
        let now = ContinuousClock.now
        if let lastDropLog, now - lastDropLog < .seconds(1) { unloggedDrops += 1; return }
        lastDropLog = now
        runtime.logger.warning("connection dropped", metadata: [
            "listener": "\(runtime.config.name)", "client": "\(address)", "reason": "\(reason)",
            "unlogged_since_last": "\(unloggedDrops)",
        ])
        unloggedDrops = 0
    }
}
