public import MailTunnelProtocols

/// A host and port as written by an operator; `host` nil means "all interfaces" for accept.
public struct HostPort: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var host: String?
    public var port: Int

    public init(host: String?, port: Int) {
        self.host = host
        self.port = port
    }

    /// `[::1]:993` keeps its brackets so the text can be pasted back into a config.
    public var description: String {
        guard let host else { return String(port) }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

public enum VerifyPolicy: String, Sendable, CaseIterable { case none, optional, require }
public enum AuthPolicy: String, Sendable, CaseIterable { case none, sasl, certificate }
public enum ProxyProtocolVersion: String, Sendable, CaseIterable { case none, v1, v2 }
public enum TLSMinimum: String, Sendable, CaseIterable {
    case v1_2 = "1.2"
    case v1_3 = "1.3"
}
public enum LogLevelName: String, Sendable, CaseIterable { case trace, debug, info, notice, warning, error, critical }

/// One listener's effective settings: every SPEC key, defaults filled in.
/// Durations are in seconds.
public struct ListenerConfig: Sendable, Equatable {
    public var name: String
    public var accept: HostPort
    public var connect: [HostPort]
    public var `protocol`: MailProtocol
    public var starttls: Bool = false
    public var cert: String?
    public var key: String?
    public var tlsMin: TLSMinimum = .v1_2
    /// TLS 1.2 ciphers: ECDHE with AEAD only (SPEC).
    public var ciphers: String = ListenerConfig.defaultCiphers
    public var ciphersuites: String?
    public var verify: VerifyPolicy = .none
    public var caFile: String?
    public var caPath: String?
    public var crlFile: String?
    public var verifyDepth: Int = 9
    public var allowSubject: [String] = []
    public var auth: AuthPolicy = .none
    public var saslService: String = "smtp"
    public var saslConfigDir: String?
    public var xclient: Bool = false
    public var proxyProtocol: ProxyProtocolVersion = .none
    public var acceptProxyProtocol: Bool = false
    /// `accept-proxy-from` as given; nil means the default, which the first given value replaces.
    public var acceptProxyFrom: [IPNetwork]?
    public var handshakeTimeout: Double = 30
    public var connectTimeout: Double = 10
    public var idleTimeout: Double = 30 * 60
    public var maxConnections: Int = 10_000
    public var maxConnectionsPerIP: Int?
    public var shutdownGrace: Double = 30
    public var metrics: HostPort?
    public var user: String?
    public var group: String?
    public var pidFile: String?
    public var logLevel: LogLevelName = .info
    public var stateDir: String?

    public static let defaultCiphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// Loopback only: a balancer on the same host. Anyone who may send a PROXY header chooses the client address.
    public static let defaultAcceptProxyFrom = [IPNetwork("127.0.0.0/8")!, IPNetwork("::1")!]

    /// The peers whose PROXY header is honoured.
    public var trustedProxies: [IPNetwork] { acceptProxyFrom ?? Self.defaultAcceptProxyFrom }

    public init(name: String, accept: HostPort, connect: [HostPort], protocol: MailProtocol? = nil) {
        self.name = name
        self.accept = accept
        self.connect = connect
        self.protocol = `protocol` ?? MailProtocol.inferred(fromPort: accept.port)
    }
}
