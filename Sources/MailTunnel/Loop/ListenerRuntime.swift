import Logging
import MailTunnelTLS
import Synchronization

/// What every connection of one listener shares with the control plane: settings, the current TLS context
/// (swapped whole on reload; live sessions keep the context they started with), and admission counters.
final class ListenerRuntime: Sendable {
    let config: ListenerConfig
    let backends: [SocketAddress]
    let logger: Logger
    private let tlsContext: Mutex<TLSContext?>
    private let admission = Mutex<Admission>(Admission())

    private struct Admission {
        var active = 0
        var perAddress: [String: Int] = [:]
    }

    init(config: ListenerConfig, backends: [SocketAddress], tls: TLSContext?, logger: Logger) {
        self.config = config
        self.backends = backends
        self.logger = logger
        self.tlsContext = Mutex(tls)
    }

    var tls: TLSContext? { tlsContext.withLock { $0 } }

    func replaceTLS(_ context: TLSContext) { tlsContext.withLock { $0 = context } }

    var activeConnections: Int { admission.withLock { $0.active } }

    /// Counts a new client in; returns why it is refused if it is over a limit (it is counted either way,
    /// and `leave` is called for it either way, so the books always balance).
    func enter(host: String) -> String? {
        admission.withLock { state in
            state.active += 1
            let perHost = (state.perAddress[host] ?? 0) + 1
            state.perAddress[host] = perHost
            if state.active > config.maxConnections { return "too many connections" }
            if let limit = config.maxConnectionsPerIP, perHost > limit { return "too many connections from \(host)" }
            return nil
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
