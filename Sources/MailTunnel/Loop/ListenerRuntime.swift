import CoreMetrics
import Logging
import MailTunnelProtocols
import MailTunnelTLS
import Synchronization

/// What every connection of one listener shares with the control plane: settings, the current TLS context
/// (swapped whole on reload; live sessions keep the context they started with), and the admission state
/// (which outlives this runtime: it belongs to the listener name, see `Admission`).
final class ListenerRuntime: Sendable {
    let config: ListenerConfig
    let backends: [SocketAddress]
    let logger: Logger
    let stats: ListenerStats
    let admission: Admission
    /// The listener's protocol: every reply, stage and relay filter that differs between protocols.
    let profile: any ProtocolProfile
    /// Which of the profile's stages run (STARTTLS, the auth gate, the XCLIENT hand-over).
    let sessionSettings: SessionSettings
    let timeouts: ConnectionTimeouts
    private let tlsContext: LockedState<TLSContext?>
    /// Client mode: TLS towards the servers (it keeps their sessions for resumption); nil in server mode.
    let serverTLS: TLSClientContext?
    /// The configured host each of `backends` came from (client mode checks the server's certificate for it).
    let backendHosts: [String]
    /// What client mode's SMTP EHLO says.
    let localHostName = HostName.current

    /// `relayRules`: the SMTP gate's `local-domains` and `sender-login-map`, read when this runtime is built.
    init(config: ListenerConfig, backends: [SocketAddress], tls: TLSContext?, logger: Logger, stats: ListenerStats,
         admission: Admission, serverTLS: TLSClientContext? = nil, backendHosts: [String] = [],
         relayRules: SMTPRelayRules = .none) {
        self.serverTLS = serverTLS
        self.backendHosts = backendHosts
        self.stats = stats
        self.config = config
        self.backends = backends
        self.logger = logger
        self.admission = admission
        self.profile = config.protocol.profile
        var settings = config.sessionSettings
        settings.relayRules = relayRules
        self.sessionSettings = settings
        self.timeouts = ConnectionTimeouts(config)
        self.tlsContext = LockedState(tls)
    }

    var tls: TLSContext? { tlsContext.withLock { $0 } }

    func replaceTLS(_ context: TLSContext) { tlsContext.withLock { $0 = context } }

    /// The client at `host` (the PROXY source where one was accepted) is in `trusted-networks`.
    func isTrusted(host: String) -> Bool {
        guard !config.trustedNetworks.isEmpty, let address = IPAddress(host) else { return false }
        return config.trustedNetworks.contains { $0.contains(address) }
    }

    /// The unit limits count for a client address: IPv4 address or IPv6 /64.
    static func clientKey(_ host: String) -> String { IPAddress(host)?.clientKey.description ?? host }

    /// Counts a socket in the moment it is accepted. `admit` and `refuse` are paired with one `leave`;
    /// a dropped socket is not counted and must be closed at once.
    func enter(host: String) -> Admission.Decision {
        stats.accepted.increment()
        let decision = admission.enter(Self.clientKey(host),
                                       limits: .init(maxConnections: config.maxConnections,
                                                     maxPerAddress: config.maxConnectionsPerIP))
        if case .drop = decision {
            stats.refused.increment()
        } else {
            stats.active.increment()
        }
        return decision
    }

    func leave(host: String, refused: Bool) {
        admission.leave(Self.clientKey(host), refused: refused)
    }

    /// The SMTP gate's limit across connections for the client at `host` (the PROXY source where one was accepted).
    func authPolicy(host: String) -> any AuthAttemptPolicy {
        ClientAttemptPolicy(admission: admission, key: Self.clientKey(host), listenerName: config.name, logger: logger)
    }
}
