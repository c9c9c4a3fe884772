import MailTunnelTLS
import MailTunnelProtocols

/// Every SPEC option, declared exactly once: key, type, default value, validation, docs and stunnel spelling.
/// `ListenerConfig` and `DaemonSettings` take their defaults from here; flags, config-file keys, `--check`,
/// `--help`, the README table and the stunnel translation are all derived from `options`.
public enum OptionTable {
    static let accept = Option.address(
        "accept", role: .accept, .listener(\.accept), "where clients connect; no HOST (or `*`) means all interfaces",
        stunnel: .converted("accept") { value throws(OptionValueError) in try StunnelValues.nativeAddress(value) })
    static let connect = Option.list(
        "connect", "[HOST:]PORT", .listener(\.connect), default: .required(placeholder: []),
        "backend; repeat for failover in the given order; no HOST means 127.0.0.1",
        stunnel: .converted("connect") { value throws(OptionValueError) in try StunnelValues.nativeAddress(value) },
        element: { value throws(OptionValueError) in [try AddressParser.parse(value, role: .connect)] },
        render: \.description)
    static let `protocol` = Option.choice(
        "protocol", .listener(\.protocol),
        default: .derived(.none, rule: "from accept port: 993/143 imap, 995/110 pop3, 465/587/25 smtp, else none",
                          from: { MailProtocol.inferred(fromPort: $0.listener.accept.port) }),
        "application protocol: STARTTLS dialogue, error replies, auth",
        stunnel: .converted("protocol") { value throws(OptionValueError) in
            if let name = StunnelValues.startTLSProtocol(value) { return name }
            guard value.lowercased() == "proxy" else {
                throw OptionValueError("protocol '\(value)' is not supported; mailtunnel translates imap, pop3, smtp and proxy")
            }
            return nil
        })
    static let starttls = Option.startTLSMode(
        "starttls", .listener(\.starttls),
        "STARTTLS-upgrade mode (plaintext first); needs protocol imap, pop3 or smtp; `optional` (smtp, port 25): "
            + "offered, not required, AUTH only after TLS",
        stunnel: .converted("protocol", shown: "protocol = imap|pop3|smtp") {
            StunnelValues.startTLSProtocol($0) == nil ? nil : "yes"
        })
    static let client = Option.boolean(
        "client", .listener(\.client), default: false,
        "client mode: plaintext accepted locally (loopback unless accept names a host), TLS towards connect "
            + "(implicit, or STARTTLS with starttls = yes)",
        stunnel: .same("client"))
    static let verifyHost = Option.text(
        "verify-host", "NAME", .listener(\.verifyHost), unset: "the connect host",
        "client mode: the name (or IP address) the server's certificate must carry; also sent as SNI")
    /// Repeatable and paired with `key` and `ocsp-file` in order; stunnel's `cert`/`key` stay single (the translator).
    static let cert = Option.list(
        "cert", "FILE", .listener(\.certs), default: .unset([], meaning: "self-signed, generated once in state-dir"),
        "PEM server certificate chain; repeat (paired in order with key) for SNI, the first is the default",
        stunnel: .same("cert"), element: { value throws(OptionValueError) in [try nonEmpty(value, "FILE")] }, render: { $0 })
    static let key = Option.list(
        "key", "FILE", .listener(\.keys),
        default: .derived([], rule: "the cert file", from: { $0.listener.certs.isEmpty ? nil : $0.listener.certs }),
        "PEM private key of the cert in the same position", stunnel: .same("key"),
        element: { value throws(OptionValueError) in [try nonEmpty(value, "FILE")] }, render: { $0 })
    static let ocspFile = Option.list(
        "ocsp-file", "FILE", .listener(\.ocspFiles), default: .unset([], meaning: "none"),
        "DER OCSP response stapled for the cert in the same position; re-read when it changes",
        element: { value throws(OptionValueError) in [try nonEmpty(value, "FILE")] }, render: { $0 })
    static let tlsMin = Option.choice(
        "tls-min", .listener(\.tlsMin), default: .value(.v1_2), "lowest TLS version accepted",
        stunnel: .converted("sslVersionMin") { value throws(OptionValueError) in
            switch value.lowercased() {
            case "tlsv1.2": return "1.2"
            case "tlsv1.3": return "1.3"
            default: throw OptionValueError("mailtunnel accepts TLSv1.2 or TLSv1.3 only, got '\(value)'; use sslVersionMin = TLSv1.2")
            }
        })
    /// TLS 1.2 ciphers: ECDHE with AEAD only (SPEC).
    static let ciphers = Option.requiredText(
        "ciphers", "OPENSSL-CIPHERS", .listener(\.ciphers),
        default: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
            + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
        "TLS 1.2 cipher list", stunnel: .same("ciphers"))
    static let ciphersuites = Option.text("ciphersuites", "OPENSSL-SUITES", .listener(\.ciphersuites),
                                          unset: "OpenSSL's", "TLS 1.3 cipher suites", stunnel: .same("ciphersuites"))
    static let verify = Option.choice(
        "verify", .listener(\.verify), default: .value(.none), "client certificate policy",
        stunnel: StunnelSpelling([
            StunnelKey("verify", .verifySwitch { value, switches throws(OptionValueError) in try switches.setLevel(value) }),
            StunnelKey("verifyChain", .verifySwitch { value, switches throws(OptionValueError) in try switches.setChain(value) }),
            StunnelKey("requireCert", .verifySwitch { value, switches throws(OptionValueError) in try switches.setRequire(value) }),
            // Recognized only to be refused with a reason, so not in the README's column.
            StunnelKey("verifyPeer", .verifySwitch { value, switches throws(OptionValueError) in try switches.setPeer(value) }),
        ], shown: "verify, verifyChain, requireCert"))
    static let caFile = Option.text("ca-file", "FILE", .listener(\.caFile), unset: "none",
                                    "PEM trust anchors for client certificates", stunnel: .same("CAfile"))
    static let caPath = Option.text("ca-path", "DIR", .listener(\.caPath), unset: "none",
                                    "hashed directory of trust anchors", stunnel: .same("CApath"))
    static let crlFile = Option.text("crl-file", "FILE", .listener(\.crlFile), unset: "none",
                                     "PEM certificate revocation lists", stunnel: .same("CRLfile"))
    static let verifyDepth = Option.integer("verify-depth", .listener(\.verifyDepth), range: 0...100, default: 9,
                                            "maximum client certificate chain depth")
    static let allowSubject = Option.list(
        "allow-subject", "CN|EMAIL", .listener(\.allowSubject), default: .unset([], meaning: "any verified holder"),
        "admit only these verified certificate holders; repeatable",
        stunnel: StunnelSpelling([StunnelKey("checkHost", .same), StunnelKey("checkEmail", .same)]),
        element: { value throws(OptionValueError) in [try nonEmpty(value, "a certificate CN or email")] },
        render: { $0 })
    static let auth = Option.choice("auth", .listener(\.auth), default: .value(.none),
                                    "smtp only: gate MAIL FROM behind SASL or a client certificate")
    static let saslService = Option.requiredText("sasl-service", "NAME", .listener(\.saslService), default: "smtp",
                                                 "libsasl2 application name")
    static let saslConfigDir = Option.text("sasl-config-dir", "DIR", .listener(\.saslConfigDir),
                                           unset: "libsasl2's search path (/etc/sasl2)",
                                           "where <sasl-service>.conf is read from")
    static let xclient = Option.boolean("xclient", .listener(\.xclient), default: false,
                                        "smtp: send XCLIENT (ADDR, PORT, NAME, LOGIN) to the backend")
    static let localDomains = Option.list(
        "local-domains", "DOMAIN[,DOMAIN...]", .listener(\.localDomains), default: .unset([], meaning: "none"),
        "smtp gate: unauthenticated clients may send only to these domains (`.example.org` or `*.example.org` = "
            + "subdomains); repeatable", joined: true,
        element: { value throws(OptionValueError) in
            let entries = value.split { $0 == "," || $0 == " " || $0 == "\t" }.map(String.init)
            do throws(LocalDomainsError) {
                _ = try LocalDomains(entries)
            } catch {
                throw OptionValueError("expected domains such as example.org, .example.org or [192.0.2.1], got '\(error.entry)'")
            }
            return entries
        },
        render: { $0 })
    static let trustedNetworks = Option.list(
        "trusted-networks", "CIDR[,CIDR...]", .listener(\.trustedNetworks), default: .unset([], meaning: "none"),
        "smtp gate: clients from these addresses relay without authentication; repeatable", joined: true,
        element: { value throws(OptionValueError) in try networks(value) }, render: \.description)
    static let senderLoginMap = Option.text(
        "sender-login-map", "FILE", .listener(\.senderLoginMap), unset: "none",
        "smtp gate: `login address-or-@domain ...` lines; an authenticated MAIL FROM must be one of the login's "
            + "(re-read on SIGHUP)")
    static let proxyProtocol = Option.choice(
        "proxy-protocol", .listener(\.proxyProtocol), default: .value(.none), "send a PROXY header to the backend",
        stunnel: .converted("protocol", shown: "protocol = proxy") { $0.lowercased() == "proxy" ? "v1" : nil })
    static let acceptProxyProtocol = Option.boolean("accept-proxy-protocol", .listener(\.acceptProxyProtocol),
                                                    default: false, "expect a PROXY v1/v2 header from a load balancer")
    /// Loopback only: a balancer on the same host. Anyone who may send a PROXY header chooses the client address.
    static let acceptProxyFrom = Option.list(
        "accept-proxy-from", "CIDR[,CIDR...]", .listener(\.acceptProxyFrom),
        default: .value([IPNetwork("127.0.0.0/8")!, IPNetwork("::1")!]),
        "the only peers whose PROXY header is honoured; others are closed; repeatable", joined: true,
        element: { value throws(OptionValueError) in try networks(value) },
        render: \.description)
    static let ticketKeyFile = Option.text(
        "ticket-key-file", "FILE", .listener(\.ticketKeyFile), unset: "none: keys generated in memory",
        "session-ticket keys, one base64 line of 80 bytes each (`mailtunnel --new-ticket-key`); the first encrypts, "
            + "every line decrypts; share it across a fleet")
    static let ticketLifetime = Option.duration(
        "ticket-lifetime", .listener(\.ticketLifetime), default: 3600, allowZero: false,
        "ticket lifetime hint; without a key file the in-memory key rotates this often and a ticket older than two "
            + "lifetimes never resumes")
    static let reusePort = Option.boolean("reuse-port", .listener(\.reusePort), default: false,
                                          "bind with SO_REUSEPORT so several processes share the port")

    static func networks(_ value: String) throws(OptionValueError) -> [IPNetwork] {
        guard let networks = IPNetwork.list(value) else {
            throw OptionValueError("expected addresses or networks such as 10.0.0.0/8 or 2001:db8::/32 "
                                   + "(no host bits past the prefix), got '\(value)'")
        }
        return networks
    }
    static let handshakeTimeout = Option.duration(
        "handshake-timeout", .listener(\.handshakeTimeout), default: 30, allowZero: false,
        "time allowed from accept until relaying starts (TLS, STARTTLS dialogue, SMTP AUTH)", stunnel: .same("TIMEOUTbusy"))
    static let connectTimeout = Option.duration("connect-timeout", .listener(\.connectTimeout), default: 10,
                                                allowZero: false, "time allowed to reach a backend",
                                                stunnel: .same("TIMEOUTconnect"))
    static let idleTimeout = Option.duration("idle-timeout", .listener(\.idleTimeout), default: 30 * 60,
                                             allowZero: false, "close a connection silent in both directions this long",
                                             stunnel: .same("TIMEOUTidle"))
    static let maxConnections = Option.integer("max-connections", .listener(\.maxConnections), range: 1...1_000_000,
                                               default: 10_000, "per listener; beyond it clients get a protocol error reply")
    static let maxConnectionsPerIP = Option.limit("max-connections-per-ip", .listener(\.maxConnectionsPerIP),
                                                  range: 1...1_000_000, "per listener and client address; none = unlimited")
    static let shutdownGrace = Option.duration("shutdown-grace", .listener(\.shutdownGrace), default: 30, allowZero: true,
                                               "how long live sessions may finish after SIGTERM")
    /// Process-wide: one /metrics and /healthz endpoint reports every listener of the process.
    static let metrics = Option.optionalAddress("metrics", role: .metrics, .daemon(\.metrics),
                                                "Prometheus text at /metrics and GET /healthz; no HOST means 127.0.0.1")
    static let user = Option.text("user", "NAME", .daemon(\.user), unset: "unchanged",
                                  "drop privileges to this user after binding", stunnel: .same("setuid", globalOnly: true))
    static let group = Option.text("group", "NAME", .daemon(\.group), unset: "the user's group",
                                   "drop privileges to this group after binding", stunnel: .same("setgid", globalOnly: true))
    static let pidFile = Option.text("pid-file", "FILE", .daemon(\.pidFile), unset: "none", "write the process id here",
                                     stunnel: .converted("pid", globalOnly: true) { $0.isEmpty ? nil : $0 })
    static let logLevel = Option.choice(
        "log-level", .daemon(\.logLevel), default: .value(.info), "lowest level logged",
        stunnel: .converted("debug") { value throws(OptionValueError) in try StunnelValues.logLevel(fromDebug: value).rawValue })
    static let log = Option<LogDestination?>(
        "log", "stderr|syslog|journal|FILE", .daemon(\.log),
        default: .unset(nil, meaning: "stderr on a terminal or under systemd, else syslog if /dev/log exists"),
        "where log lines go; a FILE is reopened on SIGUSR1 (logrotate)",
        stunnel: .same("output", globalOnly: true),
        parse: { value, _ throws(OptionValueError) in try LogDestination(parsing: value) },
        render: { $0.map { [$0.description] } ?? [] })
    static let logFormat = Option.choice("log-format", .daemon(\.logFormat), default: .value(.text),
                                         "text (key=value) or json (one object per line, same fields)")
    static let stateDir = Option.text("state-dir", "DIR", .daemon(\.stateDir),
                                      unset: "$STATE_DIRECTORY, else /var/lib/mailtunnel",
                                      "where the generated self-signed certificate is kept")

    /// In the order `--check`, `--help` and the README print them.
    public static let options: [OptionSpec] = [
        accept.spec, connect.spec, `protocol`.spec, starttls.spec, client.spec, verifyHost.spec, cert.spec, key.spec,
        ocspFile.spec, tlsMin.spec, ciphers.spec,
        ciphersuites.spec, verify.spec, caFile.spec, caPath.spec, crlFile.spec, verifyDepth.spec, allowSubject.spec,
        auth.spec, saslService.spec, saslConfigDir.spec, xclient.spec, localDomains.spec, trustedNetworks.spec,
        senderLoginMap.spec, proxyProtocol.spec, acceptProxyProtocol.spec,
        acceptProxyFrom.spec, handshakeTimeout.spec, connectTimeout.spec, idleTimeout.spec, maxConnections.spec,
        maxConnectionsPerIP.spec, shutdownGrace.spec, metrics.spec, user.spec, group.spec, pidFile.spec,
        logLevel.spec, log.spec, logFormat.spec, stateDir.spec,
        ticketKeyFile.spec, ticketLifetime.spec, reusePort.spec,
    ]

    /// Keys are matched case-insensitively, as stunnel matches its own.
    public static func option(named name: String) -> OptionSpec? {
        let wanted = name.lowercased()
        return options.first { $0.name == wanted }
    }

    /// The native options a stunnel key is translated into, in table order (`protocol` sets up to two).
    static func options(stunnelKey written: String) -> [(option: OptionSpec, key: StunnelKey)] {
        options.compactMap { option in option.stunnel?.keys.first { $0.matches(written) }.map { (option, $0) } }
    }

    /// The native option a stunnel key passes straight through to, if any (for "did you mean").
    static func option(stunnelSame written: String) -> OptionSpec? {
        options(stunnelKey: written).first { if case .same = $0.key.conversion { true } else { false } }?.option
    }
}
