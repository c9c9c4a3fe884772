#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import MailTunnelTLS

/// Startup, signals, reload and graceful stop. Control work runs on one serial Dispatch queue;
/// the data plane runs on the event loops.
public final class Daemon: @unchecked Sendable {
    // Mutable state is touched only on `control`.
    private let control = DispatchQueue(label: "mailtunnel.control")
    private let logger: Logger
    private var listeners: [Listener] = []
    private var loops: [EventLoop] = []
    private var signalSources: [any DispatchSourceSignal] = []
    private var stopping = false

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Builds everything, binds, reports ready, and never returns.
    public func run(_ configs: [ListenerConfig]) throws -> Never {
        signal(SIGPIPE, SIG_IGN)
        let loopCount = max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 64))
        for index in 0..<loopCount {
            let loop = try EventLoop(index: index)
            loop.start(name: "mailtunnel-loop-\(index)")
            loops.append(loop)
        }
        for config in configs {
            let runtime = try makeRuntime(config)
            let sockets = try Listener.bind(config)
            let listener = Listener(runtime: runtime, sockets: sockets, loops: loops, queue: control)
            listeners.append(listener)
            logger.info("\(LogLine.format("listening", [("listener", config.name), ("accept", config.accept.description), ("connect", config.connect.map(\.description).joined(separator: ",")), ("protocol", config.protocol.rawValue), ("mode", config.starttls ? "starttls" : "implicit-tls")]))")
        }
        control.sync {
            for listener in listeners { listener.start() }
            installSignals()
            startWatchdog()
        }
        SystemdNotifier.notify("READY=1\nSTATUS=serving \(configs.count) listener(s)")
        dispatchMain()
    }

    private func makeRuntime(_ config: ListenerConfig) throws -> ListenerRuntime {
        var backends: [SocketAddress] = []
        for target in config.connect {
            backends += try SocketAddress.resolve(host: target.host ?? "127.0.0.1", port: target.port, passive: false)
        }
        let context = try TLSSetup.makeContext(config, logger: logger)
        return ListenerRuntime(config: config, backends: backends, tls: context, logger: logger)
    }

    private func installSignals() {
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: control)
            source.setEventHandler { [self] in
                if signalNumber == SIGHUP { reload() } else { beginShutdown() }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// SIGHUP: rebuild each listener's TLS context from its files; a broken file keeps the old context serving.
    private func reload() {
        SystemdNotifier.notify("RELOADING=1")
        for listener in listeners {
            let config = listener.runtime.config
            do {
                let context = try TLSSetup.makeContext(config, logger: logger)
                listener.runtime.replaceTLS(context)
                logger.info("\(LogLine.format("reloaded", [("listener", config.name)]))")
            } catch {
                logger.error("\(LogLine.format("reload failed, keeping the previous configuration", [("listener", config.name), ("error", "\(error)")]))")
            }
        }
        SystemdNotifier.notify("READY=1")
    }

    /// SIGTERM/SIGINT: stop accepting now, let sessions finish within the grace period, then close the rest.
    private func beginShutdown() {
        guard !stopping else { return }
        stopping = true
        SystemdNotifier.notify("STOPPING=1")
        for listener in listeners { listener.stop() }
        let grace = listeners.map(\.runtime.config.shutdownGrace).max() ?? 30
        logger.info("\(LogLine.format("stopping", [("connections", String(liveConnections)), ("grace", formatSeconds(grace))]))")
        waitForSessions(until: EventLoop.monotonicNow() + grace)
    }

    private var liveConnections: Int { loops.reduce(0) { $0 + $1.liveConnections.load(ordering: .relaxed) } }

    private func waitForSessions(until deadline: Double) {
        if liveConnections == 0 { return exitNow() }
        if EventLoop.monotonicNow() >= deadline {
            for loop in loops {
                loop.execute { for connection in loop.allConnections { connection.shutdownNow() } }
            }
            control.asyncAfter(deadline: .now() + .milliseconds(500)) { [self] in exitNow() }
            return
        }
        control.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in waitForSessions(until: deadline) }
    }

    private func exitNow() {
        logger.info("stopped")
        exit(0)
    }

    private func startWatchdog() {
        guard let interval = SystemdNotifier.watchdogInterval else { return }
        let timer = DispatchSource.makeTimerSource(queue: control)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [self] in
            SystemdNotifier.notify("WATCHDOG=1\nSTATUS=\(liveConnections) connection(s)")
        }
        timer.resume()
        watchdogTimer = timer
    }

    private var watchdogTimer: (any DispatchSourceTimer)?
}
