import Foundation
import Testing
import MailTunnelProtocols
import MailTunnelTLS
@testable import MailTunnel

@Suite struct StunnelTranslatorTests {
    static func realistic(_ dir: TempDir) throws -> String {
        let cert = try dir.write("mail.pem", "pem")
        let ca = try dir.write("clients-ca.pem", "pem")
        return try dir.write("stunnel.conf", """
            ; stunnel.conf for the mail host
            pid = /var/run/stunnel4/mail.pid
            setuid = stunnel4
            setgid = stunnel4
            foreground = no
            output = /var/log/stunnel4/stunnel.log
            debug = daemon.notice
            cert = \(cert)
            sslVersionMin = TLSv1.2
            TIMEOUTidle = 43200
            client = no

            [imaps]
            accept  = 993
            connect = 143
            connect = 10.0.0.8:143
            failover = prio
            TIMEOUTbusy = 60

            [pop3s]
            accept = :::995
            connect = 110
            CAfile = \(ca)
            verifyChain = yes
            checkEmail = alice@example.org
            checkHost = mx.example.org

            [submission]
            accept = 0.0.0.0:587
            connect = 10025
            protocol = smtp
            TIMEOUTconnect = 5
            Ciphers = ECDHE-RSA-AES256-GCM-SHA384
            """)
    }

    @Test func translatesRealisticStunnelConf() throws {
        let dir = try TempDir()
        let file = try Self.realistic(dir)
        let run = try RunConfig.load(arguments: ["--stunnel-config", file])
        #expect(run.listeners.map(\.name) == ["imaps", "pop3s", "submission"])
        #expect(run.daemon.pidFile == "/var/run/stunnel4/mail.pid")
        #expect(run.daemon.user == "stunnel4")
        #expect(run.daemon.group == "stunnel4")
        // stunnel logs connections at notice, its default; mailtunnel logs them at info, so notice maps there.
        #expect(run.daemon.logLevel == .info)
        #expect(run.daemon.foreground == false)
        #expect(run.daemon.log == .file("/var/log/stunnel4/stunnel.log"))

        let (imaps, pop3s, submission) = (run.listeners[0], run.listeners[1], run.listeners[2])
        #expect(imaps.accept == HostPort(host: nil, port: 993))
        #expect(imaps.connect == [HostPort(host: "127.0.0.1", port: 143), HostPort(host: "10.0.0.8", port: 143)])
        #expect(imaps.protocol == .imap)
        #expect(imaps.starttls == .no)
        #expect(imaps.cert == "\(dir.path)/mail.pem")
        #expect(imaps.key == "\(dir.path)/mail.pem")
        #expect(imaps.idleTimeout == 43200)
        #expect(imaps.handshakeTimeout == 60)
        #expect(imaps.tlsMin == .v1_2)
        #expect(imaps.verify == .none)

        #expect(pop3s.accept == HostPort(host: "::", port: 995))
        #expect(pop3s.protocol == .pop3)
        #expect(pop3s.verify == .require)
        #expect(pop3s.caFile == "\(dir.path)/clients-ca.pem")
        #expect(pop3s.allowSubject == ["alice@example.org", "mx.example.org"])
        #expect(pop3s.handshakeTimeout == 30, "TIMEOUTbusy of another service does not leak")

        #expect(submission.accept == HostPort(host: "0.0.0.0", port: 587))
        #expect(submission.protocol == .smtp)
        #expect(submission.starttls == .yes)
        #expect(submission.connectTimeout == 5)
        #expect(submission.ciphers == "ECDHE-RSA-AES256-GCM-SHA384")
        #expect(submission.idleTimeout == 43200, "global stunnel options are defaults for every service")
    }

    @Test func refusesUnsupportedOptionWithItsLine() throws {
        let dir = try TempDir()
        let file = try dir.write("stunnel.conf", """
            [imaps]
            accept = 993
            connect = 143
            sessionCacheTimeout = 300
            client = maybe
            protocol = socks
            failover = rr
            [pop3s]
            pid = /run/x.pid
            accept = 995
            connect = 110
            sslVersionMin = TLSv1
            """)
        let errors = loadErrors(["--stunnel-config", file])
        #expect(errors.map { "\($0.line ?? 0):\($0.key ?? "-")" }
                == ["4:sessionCacheTimeout", "5:client", "6:protocol", "7:failover", "9:pid", "12:sslVersionMin"])
        #expect(errors[0].description.hasPrefix("\(file):4: sessionCacheTimeout: unsupported stunnel option"))
        #expect(errors[1].message == "expected yes or no, got 'maybe'")
        #expect(errors[4].message == "is a global option; move it before the first [service]")
    }

    @Test(arguments: [
        ("verify = 0", "none"), ("verify = 1", "optional"), ("verify = 2", "require"),
        ("verifyChain = yes", "require"), ("verifyChain = yes\nrequireCert = no", "optional"),
        ("VERIFY = 2\nverifyChain = no\nverifyChain = yes", "require"),
    ])
    func verifyLevels(_ lines: String, _ expected: String) throws {
        let dir = try TempDir()
        let ca = try dir.write("ca.pem", "pem")
        let file = try dir.write("s.conf", "CAfile = \(ca)\n[imaps]\naccept = 993\nconnect = 143\n\(lines)\n")
        let run = try RunConfig.load(arguments: ["--stunnel-config", file])
        #expect(run.listeners.first?.verify.rawValue == expected)
    }

    @Test(arguments: ["verify = 3", "verify = 4", "verifyPeer = yes", "requireCert = yes"])
    func refusesVerifyModesWithoutEquivalent(_ line: String) throws {
        let dir = try TempDir()
        let ca = try dir.write("ca.pem", "pem")
        let file = try dir.write("s.conf", "[imaps]\naccept = 993\nconnect = 143\nCAfile = \(ca)\n\(line)\n")
        let errors = loadErrors(["--stunnel-config", file])
        #expect(errors.map(\.line) == [5])
        #expect(errors.first?.key == String(line.split(separator: " ").first ?? ""))
    }

    @Test func inheritedVerifyProblemReportedOnce() throws {
        let dir = try TempDir()
        let file = try dir.write("s.conf", "verify = 4\n[a]\naccept = 993\nconnect = 143\n[b]\naccept = 995\nconnect = 110\n")
        let errors = loadErrors(["--stunnel-config", file])
        // both services inherit the default; the problem is its one line, reported once
        #expect(errors.map { "\($0.line ?? 0):\($0.key ?? "-")" } == ["1:verify"])
    }

    @Test func addressAndDebugConversion() throws {
        #expect(try StunnelValues.nativeAddress("::1:993") == "[::1]:993")
        #expect(try StunnelValues.nativeAddress("993") == "993")
        #expect(try StunnelValues.nativeAddress("10.1.1.1:143") == "10.1.1.1:143")
        #expect(throws: OptionValueError.self) { try StunnelValues.nativeAddress("/run/imap.sock") }
        #expect(try StunnelValues.logLevel(fromDebug: "7") == .debug)
        #expect(try StunnelValues.logLevel(fromDebug: "local0.err") == .error)
        #expect(try StunnelValues.logLevel(fromDebug: "emerg") == .critical)
        #expect(throws: OptionValueError.self) { try StunnelValues.logLevel(fromDebug: "loud") }
    }

    @Test func noServices() throws {
        let dir = try TempDir()
        let file = try dir.write("s.conf", "pid = /run/s.pid\n")
        #expect(loadErrors(["--stunnel-config", file]).map(\.description)
                == ["\(file): no [service] sections; mailtunnel needs at least one service to listen for"])
    }

    @Test func proxyProtocolAndFlagOverride() throws {
        let dir = try TempDir()
        let file = try dir.write("s.conf", "[smtps]\naccept = 465\nconnect = 25\nprotocol = proxy\n")
        let run = try RunConfig.load(arguments: ["--stunnel-config", file, "--xclient"])
        let smtps = try #require(run.listeners.first)
        #expect(smtps.proxyProtocol == .v1)
        #expect(smtps.protocol == .smtp)
        #expect(smtps.starttls == .no)
        #expect(smtps.xclient == true)
    }

    /// The native assignments one stunnel line becomes (global-only keys placed before the section).
    static func translated(_ line: String, global: Bool = false) -> [String] {
        let text = global ? "\(line)\n[s]\n" : "[s]\n\(line)\n"
        let (translation, errors) = StunnelConfigTranslator.translate(text: text, file: "s.conf")
        #expect(errors.isEmpty, "\(line): \(errors)")
        return translation.listeners.first?.assignments.map { "\($0.key)=\($0.value)" } ?? []
    }

    /// Every stunnel key a declaration carries is translated through that declaration; `.same` keys pass
    /// the value through to the declaring option.
    @Test func translationUsesTheDeclarations() {
        for option in OptionTable.options {
            for key in option.stunnel?.keys ?? [] {
                guard case .same = key.conversion else { continue }
                #expect(Self.translated("\(key.name) = some-value", global: key.globalOnly) == ["\(option.name)=some-value"])
                #expect(Self.translated("\(key.name.uppercased()) = v", global: key.globalOnly) == ["\(option.name)=v"])
            }
        }
        #expect(OptionTable.options(stunnelKey: "protocol").map(\.option.name) == ["protocol", "starttls", "proxy-protocol"])
        #expect(OptionTable.options(stunnelKey: "sessionCacheTimeout").isEmpty)
    }

    @Test(arguments: [
        ("accept = :::995", ["accept=[::]:995"]), ("connect = ::1:143", ["connect=[::1]:143"]),
        ("protocol = smtp", ["protocol=smtp", "starttls=yes"]), ("protocol = proxy", ["proxy-protocol=v1"]),
        ("sslVersionMin = TLSv1.3", ["tls-min=1.3"]), ("debug = local0.err", ["log-level=error"]),
        ("checkHost = mx.example.org", ["allow-subject=mx.example.org"]), ("verify = 1", ["verify=optional"]),
        ("verifyChain = yes", ["verify=require"]), ("TIMEOUTbusy = 60", ["handshake-timeout=60"]),
    ])
    func convertedKeys(_ line: String, _ expected: [String]) {
        #expect(Self.translated(line) == expected)
    }

    @Test func emptyPidMeansNoPidFile() {
        #expect(Self.translated("pid =", global: true) == [])
        #expect(Self.translated("pid = /run/s.pid", global: true) == ["pid-file=/run/s.pid"])
    }

    /// The README's stunnel column is the declarations' spelling.
    @Test func stunnelColumnComesFromTheDeclarations() {
        let table = OptionDocs.markdownTable
        for option in OptionTable.options {
            guard let spelling = option.stunnel else { continue }
            let cell = "`\(spelling.text)`".replacingOccurrences(of: "|", with: "\\|")
            #expect(table.contains("| \(option.name) | ") && table.contains(cell), "\(option.name)")
        }
    }
}
