public import MailTunnelProtocols
public import MailTunnelTLS

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

/// The `verify` key is the TLS layer's own policy, so config and TLS context never need a bridge.
public typealias ClientCertificatePolicy = TLSSettings.ClientCertificatePolicy
public enum AuthPolicy: String, Sendable, CaseIterable { case none, sasl, certificate }
/// `starttls`: `optional` offers STARTTLS without requiring it (SMTP on port 25, RFC 3207 section 4).
public enum StartTLSMode: String, Sendable, CaseIterable { case yes, optional, no }
public enum ProxyProtocolVersion: String, Sendable, CaseIterable { case none, v1, v2 }
public enum TLSMinimum: String, Sendable, CaseIterable {
    case v1_2 = "1.2"
    case v1_3 = "1.3"
}
public enum LogLevelName: String, Sendable, CaseIterable { case trace, debug, info, notice, warning, error, critical }

/// One served certificate: its chain file, its key file and the OCSP response stapled for it.
public struct CertificatePair: Sendable, Equatable {
    public var cert: String
    public var key: String
    public var ocspFile: String?
}

/// One listener's effective settings. Each default is the one in the option's declaration in `OptionTable`;
/// process-wide keys live in `DaemonSettings`, once for the whole process. Durations are in seconds.
public struct ListenerConfig: Sendable, Equatable {
    public var name: String
    public var accept: HostPort
    public var connect: [HostPort]
    public var `protocol`: MailProtocol
    public var starttls: StartTLSMode = OptionTable.starttls.defaultValue
    public var client: Bool = OptionTable.client.defaultValue
    public var verifyHost: String? = OptionTable.verifyHost.defaultValue
    /// Paired in order (`certificatePairs`); the first pair is the default one.
    public var certs: [String] = OptionTable.cert.defaultValue
    public var keys: [String] = OptionTable.key.defaultValue
    public var ocspFiles: [String] = OptionTable.ocspFile.defaultValue
    public var tlsMin: TLSMinimum = OptionTable.tlsMin.defaultValue
    public var ciphers: String = OptionTable.ciphers.defaultValue
    public var ciphersuites: String? = OptionTable.ciphersuites.defaultValue
    public var verify: ClientCertificatePolicy = OptionTable.verify.defaultValue
    public var caFile: String? = OptionTable.caFile.defaultValue
    public var caPath: String? = OptionTable.caPath.defaultValue
    public var crlFile: String? = OptionTable.crlFile.defaultValue
    public var verifyDepth: Int = OptionTable.verifyDepth.defaultValue
    public var allowSubject: [String] = OptionTable.allowSubject.defaultValue
    public var auth: AuthPolicy = OptionTable.auth.defaultValue
    public var saslService: String = OptionTable.saslService.defaultValue
    public var saslConfigDir: String? = OptionTable.saslConfigDir.defaultValue
    public var xclient: Bool = OptionTable.xclient.defaultValue
    /// Entries as written; `LocalDomains` checks and matches them.
    public var localDomains: [String] = OptionTable.localDomains.defaultValue
    public var trustedNetworks: [IPNetwork] = OptionTable.trustedNetworks.defaultValue
    public var senderLoginMap: String? = OptionTable.senderLoginMap.defaultValue
    public var proxyProtocol: ProxyProtocolVersion = OptionTable.proxyProtocol.defaultValue
    public var acceptProxyProtocol: Bool = OptionTable.acceptProxyProtocol.defaultValue
    /// The peers whose PROXY header is honoured.
    public var acceptProxyFrom: [IPNetwork] = OptionTable.acceptProxyFrom.defaultValue
    public var ticketKeyFile: String? = OptionTable.ticketKeyFile.defaultValue
    public var ticketLifetime: Double = OptionTable.ticketLifetime.defaultValue
    public var reusePort: Bool = OptionTable.reusePort.defaultValue
    public var handshakeTimeout: Double = OptionTable.handshakeTimeout.defaultValue
    public var connectTimeout: Double = OptionTable.connectTimeout.defaultValue
    public var idleTimeout: Double = OptionTable.idleTimeout.defaultValue
    public var maxConnections: Int = OptionTable.maxConnections.defaultValue
    public var maxConnectionsPerIP: Int? = OptionTable.maxConnectionsPerIP.defaultValue
    public var shutdownGrace: Double = OptionTable.shutdownGrace.defaultValue

    /// The first (default) certificate and its key; nil when a self-signed certificate is generated.
    /// Setting either makes it the only one.
    public var cert: String? {
        get { certs.first }
        set { certs = newValue.map { [$0] } ?? [] }
    }
    public var key: String? {
        get { keys.first ?? certs.first }
        set { keys = newValue.map { [$0] } ?? [] }
    }

    /// `cert`, `key` and `ocsp-file` paired by position; a cert without a key line of its own holds its key.
    public var certificatePairs: [CertificatePair] {
        certs.enumerated().map { index, cert in
            CertificatePair(cert: cert, key: index < keys.count ? keys[index] : cert,
                            ocspFile: index < ocspFiles.count ? ocspFiles[index] : nil)
        }
    }
    /// The client speaks plaintext first (`starttls = yes` or `optional`).
    public var usesStartTLS: Bool { starttls != .no }

    /// The peers whose PROXY header is honoured (the name the engine reads).
    public var trustedProxies: [IPNetwork] { acceptProxyFrom }

    public init(name: String, accept: HostPort, connect: [HostPort], protocol: MailProtocol? = nil) {
        self.name = name
        self.accept = accept
        self.connect = connect
        self.protocol = `protocol` ?? MailProtocol.inferred(fromPort: accept.port)
    }
}

/// Process-wide settings: one value for the whole daemon, whichever listener or file set it.
public struct DaemonSettings: Sendable, Equatable {
    /// The one metrics endpoint of the process; nil is off.
    public var metrics: HostPort? = OptionTable.metrics.defaultValue
    public var user: String? = OptionTable.user.defaultValue
    public var group: String? = OptionTable.group.defaultValue
    public var pidFile: String? = OptionTable.pidFile.defaultValue
    public var logLevel: LogLevelName = OptionTable.logLevel.defaultValue
    public var log: LogDestination? = OptionTable.log.defaultValue
    public var logFormat: LogFormatName = OptionTable.logFormat.defaultValue
    public var stateDir: String? = OptionTable.stateDir.defaultValue
    /// From stunnel's `foreground`; mailtunnel itself never forks (run it under systemd), so this is informational.
    public var foreground: Bool?

    public init() {}
}

/// What options write into while one listener is read: its own settings and the process-wide ones it gives.
public struct SettingsDraft: Sendable, Equatable {
    public var listener: ListenerConfig
    public var daemon: DaemonSettings

    public init(listener: ListenerConfig, daemon: DaemonSettings = DaemonSettings()) {
        self.listener = listener
        self.daemon = daemon
    }
}
