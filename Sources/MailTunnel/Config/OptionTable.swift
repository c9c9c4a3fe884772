import MailTunnelProtocols

/// Every SPEC option, declared exactly once, in the order `--check` and the help print them.
/// Command-line flags, config-file keys, `--check` output, help text and the README table are all derived from it.
public enum OptionTable {
    public static let options: [OptionSpec] = [
        .address("accept", role: .accept, \.accept, default: "(required)",
                 "where clients connect; no HOST (or `*`) means all interfaces", stunnel: .converted("accept")),
        .addressList("connect", \.connect, default: "(required)",
                     "backend; repeat for failover in the given order; no HOST means 127.0.0.1",
                     stunnel: .converted("connect")),
        .choice("protocol", \.protocol, default: "from accept port: 993/143 imap, 995/110 pop3, 465/587/25 smtp, else none",
                "application protocol: STARTTLS dialogue, error replies, auth", stunnel: .converted("protocol")),
        .boolean("starttls", \.starttls, "STARTTLS-upgrade mode (plaintext first); needs protocol imap, pop3 or smtp",
                 stunnel: .converted("protocol = imap|pop3|smtp")),
        .text("cert", "FILE", \.cert, default: "self-signed, generated once in state-dir",
              "PEM server certificate chain", stunnel: .direct("cert")),
        .text("key", "FILE", \.key, default: "the cert file", "PEM private key", stunnel: .direct("key")),
        .choice("tls-min", \.tlsMin, default: "1.2", "lowest TLS version accepted", stunnel: .converted("sslVersionMin")),
        .requiredText("ciphers", "OPENSSL-CIPHERS", \.ciphers, default: "ECDHE with AES-GCM or ChaCha20-Poly1305",
                      "TLS 1.2 cipher list", stunnel: .direct("ciphers")),
        .text("ciphersuites", "OPENSSL-SUITES", \.ciphersuites, default: "OpenSSL's", "TLS 1.3 cipher suites",
              stunnel: .direct("ciphersuites")),
        .choice("verify", \.verify, default: "none", "client certificate policy",
                stunnel: .converted("verify, verifyChain, requireCert")),
        .text("ca-file", "FILE", \.caFile, default: "none", "PEM trust anchors for client certificates",
              stunnel: .direct("CAfile")),
        .text("ca-path", "DIR", \.caPath, default: "none", "hashed directory of trust anchors", stunnel: .direct("CApath")),
        .text("crl-file", "FILE", \.crlFile, default: "none", "PEM certificate revocation lists", stunnel: .direct("CRLfile")),
        .integer("verify-depth", \.verifyDepth, range: 0...100, default: "9", "maximum client certificate chain depth"),
        OptionSpec("allow-subject", "CN|EMAIL", default: "any verified holder",
                   "admit only these verified certificate holders; repeatable", repeatable: true,
                   stunnel: .converted("checkHost, checkEmail"),
                   apply: { value, config throws(OptionValueError) in
                       config.allowSubject.append(try OptionSpec.nonEmpty(value, "a certificate CN or email"))
                   },
                   render: { $0.allowSubject }),
        .choice("auth", \.auth, default: "none", "smtp only: gate MAIL FROM behind SASL or a client certificate",
                stunnel: nil),
        .requiredText("sasl-service", "NAME", \.saslService, default: "smtp", "libsasl2 application name", stunnel: nil),
        .text("sasl-config-dir", "DIR", \.saslConfigDir, default: "libsasl2's search path (/etc/sasl2)",
              "where <sasl-service>.conf is read from", stunnel: nil),
        .boolean("xclient", \.xclient, "smtp: send XCLIENT (ADDR, PORT, NAME, LOGIN) to the backend"),
        .choice("proxy-protocol", \.proxyProtocol, default: "none", "send a PROXY header to the backend",
                stunnel: .converted("protocol = proxy")),
        .boolean("accept-proxy-protocol", \.acceptProxyProtocol, "expect a PROXY v1/v2 header from a load balancer"),
        OptionSpec("accept-proxy-from", "CIDR[,CIDR...]", default: "127.0.0.0/8, ::1",
                   "the only peers whose PROXY header is honoured; others are closed; repeatable", repeatable: true,
                   apply: { value, config throws(OptionValueError) in
                       guard let networks = IPNetwork.list(value) else {
                           throw OptionValueError("expected addresses or networks such as 10.0.0.0/8 or 2001:db8::/32 "
                                                  + "(no host bits past the prefix), got '\(value)'")
                       }
                       config.acceptProxyFrom = (config.acceptProxyFrom ?? []) + networks
                   },
                   render: { [$0.trustedProxies.map(\.description).joined(separator: ", ")] }),
        .duration("handshake-timeout", \.handshakeTimeout, default: "30s", allowZero: false,
                  "time allowed from accept until relaying starts (TLS, STARTTLS dialogue, SMTP AUTH)", stunnel: .direct("TIMEOUTbusy")),
        .duration("connect-timeout", \.connectTimeout, default: "10s", allowZero: false,
                  "time allowed to reach a backend", stunnel: .direct("TIMEOUTconnect")),
        .duration("idle-timeout", \.idleTimeout, default: "30m", allowZero: false,
                  "close a connection silent in both directions this long", stunnel: .direct("TIMEOUTidle")),
        .integer("max-connections", \.maxConnections, range: 1...1_000_000, default: "10000",
                 "per listener; beyond it clients get a protocol error reply"),
        .limit("max-connections-per-ip", \.maxConnectionsPerIP, range: 1...1_000_000,
               "per listener and client address; none = unlimited"),
        .duration("shutdown-grace", \.shutdownGrace, default: "30s", allowZero: true,
                  "how long live sessions may finish after SIGTERM", stunnel: nil),
        // Process-wide: one /metrics and /healthz endpoint reports every listener of the process.
        OptionSpec("metrics", "HOST:PORT|off", default: "off",
                   "Prometheus text at /metrics and GET /healthz; no HOST means 127.0.0.1", scope: .daemon,
                   apply: { value, config throws(OptionValueError) in
                       config.metrics = value.lowercased() == "off" ? nil : try AddressParser.parse(value, role: .metrics)
                   },
                   render: { [$0.metrics?.description ?? "off"] }),
        .text("user", "NAME", \.user, default: "unchanged", "drop privileges to this user after binding",
              scope: .daemon, stunnel: .direct("setuid")),
        .text("group", "NAME", \.group, default: "the user's group", "drop privileges to this group after binding",
              scope: .daemon, stunnel: .direct("setgid")),
        .text("pid-file", "FILE", \.pidFile, default: "none", "write the process id here", scope: .daemon,
              stunnel: .direct("pid")),
        .choice("log-level", \.logLevel, default: "info", "lowest level logged", scope: .daemon,
                stunnel: .converted("debug")),
        .text("state-dir", "DIR", \.stateDir, default: "$STATE_DIRECTORY, else /var/lib/mailtunnel", "where the generated self-signed certificate is kept",
              scope: .daemon, stunnel: nil),
    ]

    /// Keys are matched case-insensitively, as stunnel matches its own.
    public static func option(named name: String) -> OptionSpec? {
        let wanted = name.lowercased()
        return options.first { $0.name == wanted }
    }

    /// The native option a stunnel option passes straight through to, if any.
    static func option(stunnelDirect name: String) -> OptionSpec? {
        options.first {
            if case .direct(let alias)? = $0.stunnel { return alias.lowercased() == name.lowercased() }
            return false
        }
    }
}
