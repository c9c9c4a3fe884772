import Logging
import MailTunnelTLS
import Synchronization

/// What every connection of one listener shares with the control plane: settings, the current TLS context
/// (swapped whole on reload; live sessions keep the context they started with), and admission counters.
final class ListenerRuntime: Sendable {
    let config: ListenerConfig
    let backends: [SocketAddress]
    let logger: Logger
    let stats: ListenerStats
    private let tlsContext: Mutex<TLSContext?>
    private let admission = Mutex<Admission>(Admission())

    private struct Admission {
        var active = 0
        var perAddress: [String: Int] = [:]
        /// Failed SMTP AUTH attempts per client address, forgotten `authFailureWindow` after the last one.
        var authFailures: [String: (count: Int, last: Double)] = [:]
    }

    /// Failed authentications from one address, across connections, before it is refused for a while.
    static let authFailureLimit = 10
    static let authFailureWindow = 600.0

    init(config: ListenerConfig, backends: [SocketAddress], tls: TLSContext?, logger: Logger, stats: ListenerStats) {
        self.stats = stats
        self.config = config
        self.backends = backends
        self.logger = logger
        self.tlsContext = Mutex(tls)
    }

    var tls: TLSContext? { tlsContext.withLock { $0 } }

    func replaceTLS(_ context: TLSContext) { tlsContext.withLock { $0 = context } }

    /// Counts a new client in; returns why it is refused if it is over a limit (it is counted either way,
    /// and `leave` is called for it either way, so the books always balance).
    func enter(host: String) -> String? {
        stats.accepted.add(1, ordering: .relaxed)
        stats.active.add(1, ordering: .relaxed)
        return admission.withLock { state in
            state.active += 1
            let perHost = (state.perAddress[host] ?? 0) + 1
            state.perAddress[host] = perHost
            if state.active > config.maxConnections { return "too many connections" }
            if let failures = state.authFailures[host] {
                if EventLoop.monotonicNow() - failures.last > Self.authFailureWindow {
                    state.authFailures[host] = nil
                } else if failures.count >= Self.authFailureLimit {
                    return "too many failed authentication attempts from \(host)"
                }
            }
            if let limit = config.maxConnectionsPerIP, perHost > limit { return "too many connections from \(host)" }
            return nil
        }
    }

    func recordAuthFailures(host: String, count: Int) {
        admission.withLock { state in
            let previous = state.authFailures[host]?.count ?? 0
            state.authFailures[host] = (previous + count, EventLoop.monotonicNow())
        }
    }

    func leave(host: String) {
        admission.withLock { state in
            state.active -= 1
            let remaining = (state.perAddress[host] ?? 1) - 1
            if remaining <= 0 { state.perAddress[host] = nil } else { state.perAddress[host] = remaining }
        }
    }
}
