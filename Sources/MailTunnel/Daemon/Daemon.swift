#if canImport(Glibc)
import Glibc
#endif
import Dispatch
public import Logging
import MailTunnelProtocols
import MailTunnelSASL
import MailTunnelTLS
import Synchronization

/// Startup, signals, reload and graceful stop. Control work runs on one serial Dispatch queue;
/// the data plane runs on the event loops.
public final class Daemon: @unchecked Sendable {
    // Mutable state is touched only on `control` once `run` has handed over to Dispatch.
    private let control = DispatchQueue(label: "mailtunnel.control")
    private let logger: Logger
    private var listeners: [Listener] = []
    private var loops: [EventLoop] = []
    private var signalSources: [any DispatchSourceSignal] = []
    private var watchdogTimer: (any DispatchSourceTimer)?
    private var reloadArguments: [String] = []
    private var daemonSettings = DaemonSettings()
    private var stopping = false
    private var closingEverything = false
    /// Per-listener counters by name, surviving reloads.
    private var stats: [String: ListenerStats] = [:]
    /// Per-listener admission state (connection counts, auth-failure bans) by name, surviving reloads.
    private var admissions: [String: Admission] = [:]
    private var metricsServer: MetricsServer?
    /// inotify on the directories of files the daemon reloads when they change; nil where unavailable.
    private var fileWatcher: FileWatcher?
    /// Certificate renewals (through `fileWatcher`) and expiry warnings; created in `run`.
    private var certificates: CertificateMonitor?
    /// swift-metrics' backend (swift-prometheus), bootstrapped at the start of `run`.
    private var exposition: MetricsExposition?
    /// Per-listener session-ticket keys by name, surviving reloads.
    private let ticketKeys = TicketKeyStore()
    private var ticketKeyWatch: FileWatcher.Token?

    /// The log file SIGUSR1 reopens (stderr: nothing to reopen).
    private let logSink: LogSink

    public init(logger: Logger, logSink: LogSink = .standardError) {
        self.logger = logger
        self.logSink = logSink
    }

    /// Builds everything, binds, drops privileges, reports ready, and never returns.
    public func run(_ config: RunConfig, reloadArguments: [String]) throws -> Never {
        // The setup's temporaries must be released before dispatchMain(): it ends the main thread
        // (pthread_exit), and whatever only that frame held would never be freed (LeakSanitizer reports it).
        try start(config, reloadArguments: reloadArguments)
        dispatchMain()
    }

    private func start(_ config: RunConfig, reloadArguments: [String]) throws {
        signal(SIGPIPE, SIG_IGN)
        let descriptors = FileLimit.raiseToHardLimit()
        // Two per admitted client, the polite refusals in flight, and room for listeners, loops and logs.
        let needed = config.listeners.reduce(64) { $0 + 2 * $1.maxConnections + Admission.refusalsInFlight }
        if rlim_t(needed) > descriptors {
            logger.warning("open-file limit is below what max-connections needs",
                           metadata: ["limit": "\(descriptors)", "needed": "\(needed)"])
        }
        self.reloadArguments = reloadArguments
        daemonSettings = config.daemon
        exposition = MetricsExposition.bootstrapped()
        let loopCount = max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 64))
        for index in 0..<loopCount {
            let loop = try EventLoop(index: index, logger: logger)
            loop.start(name: "mailtunnel-loop-\(index)")
            loops.append(loop)
        }
        // libsasl2 reads its application config once per process, so one sasl-service/sasl-config-dir pair serves all.
        if let sasl = config.listeners.first(where: { $0.auth == .sasl }) {
            try SASLLibrary.initialize(appName: sasl.saslService, configDirectory: sasl.saslConfigDir)
        }
        let inheritedSockets = SocketActivation.fromEnvironment().assign(listenerNames: config.listeners.map(\.name))
        for (position, listenerConfig) in config.listeners.enumerated() {
            let runtime = try makeRuntime(listenerConfig, stateDir: config.daemon.stateDir)
            let inherited = inheritedSockets[position]
            let sockets = try inherited.map { [$0] } ?? Listener.bind(listenerConfig)
            listeners.append(Listener(runtime: runtime, sockets: sockets, loops: loops, inherited: inherited != nil))
            logListening(listenerConfig, inherited: inherited != nil)
        }
        if let failed = ticketKeys.loadFiles(config.listeners, logger: logger).first { throw failed }
        for listenerConfig in config.listeners where listenerConfig.ticketKeyFile == nil {
            logger.info("ticket keys generated in memory", metadata: [
                "listener": "\(listenerConfig.name)", "lifetime": "\(formatSeconds(.seconds(listenerConfig.ticketLifetime)))",
            ])
        }
        if let address = config.daemon.metrics {
            metricsServer = try MetricsServer(address: address, control: control) { [self] in metricsText() }
            logger.info("metrics", metadata: ["address": "\(address)"])
        }
        if let pidFile = config.daemon.pidFile { try PidFile.write(pidFile) }
        // Watches are added before the privilege drop: adding one needs read access to the directory.
        control.sync {
            fileWatcher = FileWatcher(queue: control, logger: logger)
            let monitor = CertificateMonitor(queue: control, logger: logger, watcher: fileWatcher,
                                             stateDir: config.daemon.stateDir)
            monitor.isStopping = { [unowned self] in stopping }
            for listener in listeners { monitor.watch(listener) }
            certificates = monitor
            watchTicketKeyFiles()
        }
        try Privileges.drop(user: config.daemon.user, group: config.daemon.group)
        if config.daemon.user != nil || config.daemon.group != nil {
            logger.info("privileges dropped", metadata: ["uid": "\(getuid())", "gid": "\(getgid())"])
        }
        control.sync {
            for listener in listeners { listener.start() }
            metricsServer?.start()
            installSignals()
            startWatchdog()
            certificates?.startExpiryChecks { [unowned self] in listeners }
        }
        SystemdNotifier.notify("READY=1\nSTATUS=serving \(listeners.count) listener(s)")
    }

    /// Called from a utility queue; the listener list is read on the control queue.
    private func metricsText() -> String {
        let served = control.sync { () -> [CertificateExpiryGauges.Served] in
            listeners.map(\.runtime).flatMap { runtime in
                (runtime.tls?.certificates ?? []).map {
                    CertificateExpiryGauges.Served(listener: runtime.config.name, path: $0.path, subject: $0.subject,
                                                   notAfter: $0.notAfter)
                }
            }
        }
        return exposition?.text(serving: served) ?? ""
    }

    private func logListening(_ config: ListenerConfig, inherited: Bool) {
        logger.info("listening", metadata: [
            "listener": "\(config.name)", "accept": "\(config.accept)",
            "connect": "\(config.connect.map(\.description).joined(separator: ","))", "protocol": "\(config.protocol.rawValue)",
            "mode": "\(config.client ? "client-" : "")\(config.usesStartTLS ? "starttls" : "implicit-tls")", "socket": "\(inherited ? "inherited" : "bound")",
        ])
    }

    private func makeRuntime(_ config: ListenerConfig, stateDir: String?) throws -> ListenerRuntime {
        var backends: [SocketAddress] = []
        var backendHosts: [String] = []
        for target in config.connect {
            let host = target.host ?? "127.0.0.1"
            let resolved = try SocketAddress.resolve(host: host, port: target.port, passive: false)
            backends += resolved
            backendHosts += resolved.map { _ in host }
        }
        // Client mode has no server side of its own: its TLS is towards the backends.
        let context = config.client ? nil : try TLSSetup.makeContext(config, stateDir: stateDir,
                                                                     ticketKeys: ticketKeys.ring(for: config), logger: logger)
        let serverTLS = config.client ? try ServerTLSSetup.makeContext(config) : nil
        let counters = stats[config.name] ?? ListenerStats(name: config.name)
        stats[config.name] = counters
        let admission = admissions[config.name] ?? Admission()
        admissions[config.name] = admission
        return ListenerRuntime(config: config, backends: backends, tls: context, logger: logger, stats: counters,
                               admission: admission, serverTLS: serverTLS, backendHosts: backendHosts,
                               relayRules: try config.loadRelayRules())
    }

    private func installSignals() {
        for signalNumber in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: control)
            source.setEventHandler { [self] in
                switch signalNumber {
                case SIGHUP: reload()
                case SIGUSR1: reopenLog()
                default: beginShutdown(signal: signalNumber)
                }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// SIGUSR1 (as for stunnel): logrotate moved the log file; write to a fresh one at the same path.
    private func reopenLog() {
        guard let path = logSink.path else { return }
        do {
            try logSink.reopen()
            logger.info("log file reopened", metadata: ["path": "\(path)"])
        } catch {
            logger.error("cannot reopen the log file, still writing to the old one", metadata: ["error": "\(error)"])
        }
    }

    /// SIGHUP: re-read the configuration and every certificate, key, CA and CRL. Everything is built and checked
    /// first; on any error the running configuration stays whole. Live sessions are never touched.
    private func reload() {
        guard !stopping else { return }
        SystemdNotifier.notify("RELOADING=1")
        defer { SystemdNotifier.notify("READY=1\nSTATUS=serving \(listeners.count) listener(s)") }
        let plan: ReloadPlan
        do {
            plan = try makeReloadPlan()
        } catch {
            let text = (error as? ConfigErrors).map { $0.errors.map(\.description).joined(separator: "; ") } ?? "\(error)"
            logger.error("reload failed, keeping the running configuration", metadata: ["error": "\(text)"])
            reloadTicketKeys()
            return
        }
        for (listener, runtime) in plan.kept { listener.runtime = runtime }
        for listener in plan.removed { listener.stop() }
        for listener in plan.added { listener.start() }
        listeners = plan.kept.map(\.0) + plan.added
        certificates?.stateDir = plan.stateDir
        for listener in plan.removed { certificates?.forget(listener) }
        for listener in listeners { certificates?.watch(listener) }
        for listener in plan.added { logListening(listener.runtime.config, inherited: false) }
        logger.info("reloaded", metadata: [
            "listeners": "\(listeners.count)", "added": "\(plan.added.count)", "removed": "\(plan.removed.count)",
        ])
        reloadTicketKeys()
        watchTicketKeyFiles()
    }

    /// Re-reads every listener's ticket-key file and swaps its keys in (the first line encrypts from now on);
    /// a file that does not load keeps the keys in use, logged. SIGHUP and a change of a file call this.
    /// Call on the control queue.
    func reloadTicketKeys() {
        ticketKeys.loadFiles(listeners.map(\.runtime.config), logger: logger)
    }

    /// A rotation script replaces the ticket-key file (by rename, as `Config/scaling/rotate-ticket-keys` does):
    /// the new keys are read without a signal, on every instance sharing the file.
    private func watchTicketKeyFiles() {
        guard let fileWatcher else { return }
        let previous = ticketKeyWatch
        let files = listeners.compactMap(\.runtime.config.ticketKeyFile)
        ticketKeyWatch = files.isEmpty ? nil : fileWatcher.watch(paths: files) { [weak self] in
            guard let self, !stopping else { return }
            reloadTicketKeys()
        }
        if let previous { fileWatcher.cancel(previous) }
    }

    private struct ReloadPlan {
        var kept: [(Listener, ListenerRuntime)] = []
        var added: [Listener] = []
        var removed: [Listener] = []
        var stateDir: String?
    }

    /// A listener whose accept address is unchanged keeps its socket (no port closes during a reload);
    /// a changed or new accept address is bound before anything is committed.
    private func makeReloadPlan() throws -> ReloadPlan {
        let config = try RunConfig.load(arguments: reloadArguments)
        var plan = ReloadPlan(stateDir: config.daemon.stateDir)
        var bound: [[Int32]] = []
        do {
            for listenerConfig in config.listeners {
                let runtime = try makeRuntime(listenerConfig, stateDir: config.daemon.stateDir)
                if let existing = listeners.first(where: { $0.runtime.config.accept == listenerConfig.accept }) {
                    plan.kept.append((existing, runtime))
                } else {
                    let sockets = try Listener.bind(listenerConfig)
                    bound.append(sockets)
                    plan.added.append(Listener(runtime: runtime, sockets: sockets, loops: loops))
                }
            }
        } catch {
            for sockets in bound { sockets.forEach { close($0) } }
            throw error
        }
        plan.removed = listeners.filter { old in !plan.kept.contains { $0.0 === old } }
        return plan
    }

    /// SIGTERM/SIGINT: stop accepting now, let sessions finish within the grace period, then close the rest
    /// with each protocol's goodbye.
    /// A second SIGTERM or a SIGINT during the grace closes everything at once: an operator who asks twice
    /// (or presses Ctrl-C) wants the process gone now, not in 60 s.
    private func beginShutdown(signal signalNumber: Int32) {
        if stopping {
            logger.info("stopping now", metadata: ["connections": "\(openConnections)",
                                                   "signal": "\(signalNumber == SIGINT ? "SIGINT" : "SIGTERM")"])
            return closeEverythingNow()
        }
        stopping = true
        SystemdNotifier.notify("STOPPING=1")
        metricsServer?.stopping = true
        let grace: Duration = .seconds(listeners.map(\.runtime.config.shutdownGrace).max() ?? 30)
        // Logged once every listening socket is closed (the loops close them after taking the clients the kernel
        // had already accepted), so a client that connects after this line is refused, never served.
        let logStopping: @Sendable () -> Void = { [self] in
            logger.info("stopping", metadata: ["connections": "\(openConnections)", "grace": "\(formatSeconds(grace))"])
        }
        let listenersLeft = Countdown(listeners.count)
        for listener in listeners {
            listener.stop { [self] in if listenersLeft.done() { control.async(execute: logStopping) } }
        }
        if listeners.isEmpty { logStopping() }
        waitForSessions(until: .now + grace)
    }

    /// Connections on the loops, and loops still draining a stopped listener's backlog (read first: see
    /// `pendingHandoffs`).
    private var liveConnections: Int {
        let handedOver = listeners.reduce(0) { $0 + $1.pendingHandoffs.load(ordering: .sequentiallyConsistent) }
        return handedOver + openConnections
    }

    /// The client connections the loops hold: what log lines and systemd's status report.
    private var openConnections: Int { loops.reduce(0) { $0 + $1.liveConnections.load(ordering: .relaxed) } }

    private func waitForSessions(until deadline: ContinuousClock.Instant) {
        if liveConnections == 0 { return exitNow() }
        if closingEverything { return }
        if ContinuousClock.now >= deadline { return closeEverythingNow() }
        control.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in waitForSessions(until: deadline) }
    }

    /// Every session gets its protocol's goodbye; whatever has not closed half a second later goes with the process.
    private func closeEverythingNow() {
        guard !closingEverything else { return }
        closingEverything = true
        for loop in loops {
            loop.execute { for connection in loop.allConnections { connection.shutdownNow() } }
        }
        control.asyncAfter(deadline: .now() + .milliseconds(500)) { [self] in exitNow() }
    }

    private func exitNow() {
        if let pidFile = daemonSettings.pidFile { PidFile.remove(pidFile) }
        logger.info("stopped")
        exit(0)
    }

    private func startWatchdog() {
        guard let interval = SystemdNotifier.watchdogInterval.map(DispatchTimeInterval.init) else { return }
        let timer = DispatchSource.makeTimerSource(queue: control)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [self] in
            SystemdNotifier.notify("WATCHDOG=1\nSTATUS=\(openConnections) connection(s)")
        }
        timer.resume()
        watchdogTimer = timer
    }
}
