import Testing
import MailTunnelProtocols
import MailTunnelTLS
@testable import MailTunnel

@Suite struct ConfigOptionTests {
    static let specKeys = [
        "accept", "connect", "protocol", "starttls", "client", "verify-host", "cert", "key", "ocsp-file", "tls-min", "ciphers", "ciphersuites", "verify",
        "ca-file", "ca-path", "crl-file", "verify-depth", "allow-subject", "auth", "sasl-service", "sasl-config-dir",
        "xclient", "local-domains", "trusted-networks", "sender-login-map", "proxy-protocol", "accept-proxy-protocol", "accept-proxy-from", "handshake-timeout", "connect-timeout", "idle-timeout",
        "max-connections", "max-connections-per-ip", "shutdown-grace", "metrics", "user", "group", "pid-file",
        "log-level", "log", "log-format", "state-dir",
        "ticket-key-file", "ticket-lifetime", "reuse-port",
    ]

    @Test func everySpecKeyDeclaredExactlyOnce() {
        #expect(OptionTable.options.map(\.name) == Self.specKeys)
        #expect(Set(OptionTable.options.map(\.name)).count == OptionTable.options.count)
        #expect(OptionTable.options.filter(\.repeatable).map(\.name)
                == ["connect", "cert", "key", "ocsp-file", "allow-subject", "local-domains", "trusted-networks",
                    "accept-proxy-from"])
        #expect(OptionTable.options.filter { $0.scope == .daemon }.map(\.name)
                == ["metrics", "user", "group", "pid-file", "log-level", "log", "log-format", "state-dir"])
    }

    /// key, a good value, what --check prints for it, a bad value.
    @Test(arguments: [
        ("accept", "[::1]:993", "[::1]:993", "99999"),
        ("connect", "mail.internal:143", "mail.internal:143", "*:143"),
        ("protocol", "POP3", "pop3", "nntp"),
        ("starttls", "yes", "yes", "maybe"),
        ("client", "yes", "yes", "maybe"),
        ("verify-host", "mail.example.org", "mail.example.org", ""),
        ("starttls", "Optional", "optional", "sometimes"),
        ("cert", "/etc/ssl/a.pem", "/etc/ssl/a.pem", ""),
        ("key", "/etc/ssl/a.key", "/etc/ssl/a.key", ""),
        ("ocsp-file", "/etc/ssl/a.ocsp", "/etc/ssl/a.ocsp", ""),
        ("tls-min", "1.3", "1.3", "1.1"),
        ("ciphers", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", ""),
        ("ciphersuites", "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", ""),
        ("verify", "require", "require", "strict"),
        ("ca-file", "/etc/ssl/ca.pem", "/etc/ssl/ca.pem", ""),
        ("ca-path", "/etc/ssl/certs", "/etc/ssl/certs", ""),
        ("crl-file", "/etc/ssl/crl.pem", "/etc/ssl/crl.pem", ""),
        ("verify-depth", "3", "3", "-1"),
        ("allow-subject", "alice@example.org", "alice@example.org", ""),
        ("auth", "sasl", "sasl", "password"),
        ("sasl-service", "smtpd", "smtpd", ""),
        ("sasl-config-dir", "/etc/sasl2", "/etc/sasl2", ""),
        ("xclient", "on", "yes", "2"),
        ("local-domains", "example.org, .sub.example.org", "example.org, .sub.example.org", "bad!domain"),
        ("trusted-networks", "192.0.2.0/24", "192.0.2.0/24", "192.0.2.1/24"),
        ("sender-login-map", "/etc/mailtunnel/senders", "/etc/mailtunnel/senders", ""),
        ("proxy-protocol", "v2", "v2", "v3"),
        ("accept-proxy-protocol", "true", "yes", "yess"),
        ("accept-proxy-from", "10.0.0.0/8,::1", "10.0.0.0/8, ::1", "10.0.0.1/8"),
        ("handshake-timeout", "15s", "15s", "0"),
        ("connect-timeout", "2500ms", "2500ms", "soon"),
        ("idle-timeout", "1h", "1h", "-1m"),
        ("max-connections", "500", "500", "0"),
        ("max-connections-per-ip", "20", "20", "lots"),
        ("shutdown-grace", "0", "0s", "10 s"),
        ("metrics", "9100", "127.0.0.1:9100", "on"),
        ("user", "mail", "mail", ""),
        ("group", "mail", "mail", ""),
        ("pid-file", "/run/mailtunnel.pid", "/run/mailtunnel.pid", ""),
        ("log-level", "debug", "debug", "verbose"),
        ("log", "/var/log/mailtunnel.log", "/var/log/mailtunnel.log", "mailtunnel.log"),
        ("log-format", "JSON", "json", "xml"),
        ("state-dir", "/var/lib/mailtunnel", "/var/lib/mailtunnel", ""),
    ])
    func everyOptionValidates(_ key: String, _ good: String, _ printed: String, _ bad: String) throws {
        let option = try #require(OptionTable.option(named: key))
        var config = SettingsDraft(listener: ListenerConfig(name: "t", accept: HostPort(host: nil, port: 1), connect: []))
        try option.apply(good, to: &config)
        #expect(option.values(of: config).last == printed)
        var untouched = SettingsDraft(listener: ListenerConfig(name: "t", accept: HostPort(host: nil, port: 1), connect: []))
        #expect(throws: OptionValueError.self) { try option.apply(bad, to: &untouched) }
    }

    @Test func defaultsAsSpecified() throws {
        let run = try RunConfig.load(arguments: ["--accept", "993", "--connect", "143"])
        let listener = try #require(run.listeners.first)
        #expect(run.listeners.count == 1)
        #expect(listener.name == "993")
        #expect(listener.accept == HostPort(host: nil, port: 993))
        #expect(listener.connect == [HostPort(host: "127.0.0.1", port: 143)])
        #expect(listener.protocol == .imap)
        #expect(listener.starttls == .no)
        #expect(listener.tlsMin == .v1_2)
        #expect(listener.verify == .none)
        #expect(listener.verifyDepth == 9)
        #expect(listener.idleTimeout == 1800)
        #expect(listener.handshakeTimeout == 30)
        #expect(listener.connectTimeout == 10)
        #expect(listener.shutdownGrace == 30)
        #expect(listener.maxConnections == 10_000)
        #expect(listener.maxConnectionsPerIP == nil)
        #expect(run.daemon.metrics == nil)
        #expect(listener.saslService == "smtp")
        #expect(listener.cert == nil && listener.key == nil)
        #expect(run.daemon.logLevel == .info)
        #expect(run.mode == .run)
    }

    @Test(arguments: [(995, MailProtocol.pop3), (110, .pop3), (465, .smtp), (587, .smtp), (25, .smtp), (143, .imap), (8443, .none)])
    func protocolInferredFromAcceptPort(_ port: Int, _ expected: MailProtocol) throws {
        let run = try RunConfig.load(arguments: ["--accept", String(port), "--connect", "10025"])
        #expect(run.listeners.first?.protocol == expected)
    }

    @Test func helpAndTableListEveryOption() {
        let help = OptionDocs.helpText
        let table = OptionDocs.markdownTable
        for key in Self.specKeys {
            #expect(help.contains("--\(key) "), "help lacks --\(key)")
            #expect(table.contains("| \(key) |"), "table lacks \(key)")
        }
        #expect(table.contains("| idle-timeout | DURATION (30m) | `TIMEOUTidle` |"))
        #expect(table.split(separator: "\n").count == Self.specKeys.count + 2)
    }
}
