/// Every metric mailtunnel exposes: the name the code gives swift-metrics, and the HELP text the exposition
/// shows (Prometheus's lint, `promtool check metrics`, wants one per family).
enum MetricCatalog {
    static let connectionsAccepted = "mailtunnel_connections_accepted_total"
    static let connectionsActive = "mailtunnel_connections_active"
    static let bytesIn = "mailtunnel_bytes_in_total"
    static let bytesOut = "mailtunnel_bytes_out_total"
    static let handshakeFailures = "mailtunnel_handshake_failures_total"
    static let backendUnavailable = "mailtunnel_backend_unavailable_total"
    static let authFailures = "mailtunnel_auth_failures_total"
    static let connectionsRefused = "mailtunnel_connections_refused_total"
    static let handshakeDuration = "mailtunnel_tls_handshake_duration_seconds"
    static let certificateExpiry = "mailtunnel_certificate_expiry_seconds"

    static let help: [String: String] = [
        connectionsAccepted: "Client connections accepted.",
        connectionsActive: "Client connections open now.",
        bytesIn: "Bytes relayed from clients to backends (added while connections live).",
        bytesOut: "Bytes relayed from backends to clients (added while connections live).",
        handshakeFailures: "TLS handshakes that failed or timed out.",
        backendUnavailable: "Connections for which no backend answered.",
        authFailures: "Failed SMTP AUTH attempts.",
        connectionsRefused: "Connections refused by a connection or auth-failure limit.",
        handshakeDuration: "Time from the start to the completion of successful TLS handshakes with clients.",
        certificateExpiry: "Seconds until the served certificate's notAfter (negative once expired).",
    ]

    /// 1 ms (a resumed session on loopback) to 5 s (a slow mobile client near handshake-timeout's default).
    static let durationBuckets: [String: [Duration]] = [
        handshakeDuration: [
            .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5),
        ],
    ]
}
