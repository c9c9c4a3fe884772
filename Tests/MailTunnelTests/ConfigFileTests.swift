import Foundation
import Testing
import MailTunnelProtocols
import MailTunnelTLS
@testable import MailTunnel

/// A private directory per test, removed afterwards, so tests can run in parallel.
final class TempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "mailtunnel-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

/// Runs `load` and returns the thrown errors, failing the test if it did not throw.
func loadErrors(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigError] {
    do {
        let run = try RunConfig.load(arguments: arguments)
        Issue.record("expected errors, got \(run.listeners.count) listeners", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.errors
    }
}

@Suite struct ConfigFileTests {
    @Test func fileWithoutSectionsIsOneListenerNamedAfterTheFile() throws {
        let dir = try TempDir()
        let cert = try dir.write("server.pem", "pem")
        let ca = try dir.write("ca.pem", "pem")
        let file = try dir.write("imaps.conf", """
            # /etc/mailtunnel/imaps.conf
            accept = 993
            connect = 143
            connect = [::1]:10143   # second backend for failover
            cert = \(cert)
            idle-timeout = 29m
            allow-subject = alice@example.org
            verify = optional
            ca-file = \(ca)
            """)
        let run = try RunConfig.load(arguments: ["--config", file])
        #expect(run.listeners.count == 1)
        let imaps = try #require(run.listeners.first)
        #expect(imaps.name == "imaps")
        #expect(imaps.accept == HostPort(host: nil, port: 993))
        #expect(imaps.connect == [HostPort(host: "127.0.0.1", port: 143), HostPort(host: "::1", port: 10143)])
        #expect(imaps.protocol == .imap)
        #expect(imaps.cert == cert)
        #expect(imaps.key == cert, "key defaults to cert")
        #expect(imaps.idleTimeout == 29 * 60)
        #expect(imaps.allowSubject == ["alice@example.org"])
        #expect(imaps.verify == .optional)
        #expect(imaps.caFile == ca)
    }

    @Test func sectionsAndFileWideKeys() throws {
        let dir = try TempDir()
        let file = try dir.write("mail.conf", """
            # keys before the first section apply to every listener
            connect-timeout = 3s
            connect = 10.0.0.5:143
            log-level = notice

            [imaps]
            accept = 993

            [pop3s]
            accept = 995
            connect = 10.0.0.5:110
            connect-timeout = 5s

            [submission]
            accept = 587
            starttls = yes
            connect = 10.0.0.5:587
            auth = none
            """)
        let run = try RunConfig.load(arguments: ["--config", file])
        #expect(run.listeners.map(\.name) == ["imaps", "pop3s", "submission"])
        let (imaps, pop3s, submission) = (run.listeners[0], run.listeners[1], run.listeners[2])
        #expect(imaps.connect == [HostPort(host: "10.0.0.5", port: 143)])
        #expect(imaps.connectTimeout == 3)
        #expect(pop3s.connect == [HostPort(host: "10.0.0.5", port: 110)], "a section's connect replaces the file-wide one")
        #expect(pop3s.connectTimeout == 5)
        #expect(pop3s.protocol == .pop3)
        #expect(submission.protocol == .smtp)
        #expect(submission.starttls == .yes)
        // Process-wide values are held once, in run.daemon, for every listener.
        #expect(run.daemon.logLevel == .notice)
    }

    @Test func allErrorsInAFileReportedAtOnceWithFileLineKey() throws {
        let dir = try TempDir()
        let file = try dir.write("broken.conf", """
            accept = 993
            conect = 143
            idle-timeout = forever
            verify-depth = deep
            max-connections = 0
            just some words
            tls-min = 1.0
            """)
        let errors = loadErrors(["--config", file])
        #expect(errors.map { "\($0.line ?? 0):\($0.key ?? "-")" }
                == ["2:conect", "3:idle-timeout", "4:verify-depth", "5:max-connections", "6:-", "7:tls-min", "0:connect"],
                "in reading order, whole-file problems last")
        #expect(errors.allSatisfy { $0.file == file })
        #expect(errors[1].description
                == "\(file):3: idle-timeout: expected a duration like 500ms, 30s, 30m, 1h (bare number = seconds), got 'forever'")
        #expect(errors[6].description == "\(file): connect: missing; every listener needs connect = [HOST:]PORT")
    }

    @Test func conflictsAreErrors() throws {
        let dir = try TempDir()
        let file = try dir.write("conflicts.conf", """
            [plain]
            accept = 8143
            connect = 143
            starttls = yes

            [imap-auth]
            accept = 993
            connect = 143
            auth = sasl
            xclient = yes

            [certs]
            accept = 995
            connect = 110
            verify = require
            key = \(dir.path)/missing.key

            [files]
            accept = 465
            connect = 25
            cert = \(dir.path)/nope.pem
            ca-file = \(dir.path)
            verify = optional
            crl-file = \(dir.path)/crl.pem
            """)
        let errors = loadErrors(["--config", file])
        #expect(errors.map { "\($0.line ?? 0):\($0.key ?? "-")" } == [
            "4:starttls", "9:auth", "10:xclient", "15:verify", "16:key", "16:key",
            "21:cert", "22:ca-file", "24:crl-file",
        ])
        #expect(errors[0].message == "starttls = yes needs protocol imap, pop3 or smtp (protocol is none, inferred from accept port 8143)")
        #expect(errors[3].message == "verify = require needs ca-file or ca-path to check client certificates against")
        #expect(errors[4].message == "key without cert; give cert too (or neither, for a generated self-signed certificate)")
        #expect(errors[6].message == "expected a readable file, '\(dir.path)/nope.pem' does not exist")
        #expect(errors[7].message == "expected a file, '\(dir.path)' is a directory")
    }

    @Test func unreadableFileIsReported() throws {
        let dir = try TempDir()
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
        let cert = try dir.write("secret.pem", "x")
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: cert)
        let file = try dir.write("imaps.conf", "accept = 993\nconnect = 143\ncert = \(cert)\n")
        // Root reads every file, and CI runs as root: the check runs as nobody (on a thread of its own).
        let (errors, uid) = try UnprivilegedThread.run { (loadErrors(["--config", file]), getuid()) }
        #expect(uid == UnprivilegedThread.nobody)
        #expect(errors.map(\.description) == ["\(file):3: cert: expected a readable file, cannot read '\(cert)'"])
    }

    @Test func duplicateAcceptAcrossFiles() throws {
        let dir = try TempDir()
        let first = try dir.write("imaps.conf", "accept = 993\nconnect = 143\n")
        let second = try dir.write("other.conf", "# comment\naccept = 127.0.0.1:993\nconnect = 10143\n")
        let third = try dir.write("pop3s.conf", "accept = 995\nconnect = 110\n")
        let errors = loadErrors(["--config", first, "--config", third, "--config", second])
        #expect(errors.map(\.description)
                == ["\(second):2: accept: 127.0.0.1:993 is already accepted by listener [imaps] at \(first):1"])
    }

    @Test func duplicateKeysNamesAndSections() throws {
        let dir = try TempDir()
        let file = try dir.write("dup.conf", """
            [a]
            accept = 1993
            accept = 1994
            connect = 143
            [a]
            accept = 2993
            connect = 143
            """)
        let errors = loadErrors(["--config", file])
        #expect(errors.map { "\($0.line ?? 0):\($0.key ?? "-"):\($0.message)" } == [
            "3:accept:already set on line 2; give it once",
            "5:-:section [a] already defined on line 1",
            "5:-:listener name 'a' is already used at \(file):1",
        ])
    }

    @Test func commentsKeysAndSuggestions() throws {
        let (document, errors) = ConfigFileParser.parse(text: """
              # indented comment
            Accept = 993 # trailing comment
            allow-subject = Team#1
            idle_timeout = 5m
            CAfile = /x
            """, file: "f.conf")
        #expect(document.globals.map { "\($0.key)=\($0.value)" } == ["accept=993", "allow-subject=Team#1"])
        #expect(errors.map(\.description) == [
            "f.conf:4: idle_timeout: unknown key; did you mean 'idle-timeout'?",
            "f.conf:5: CAfile: unknown key; this is stunnel's name, mailtunnel's is 'ca-file' (or use --stunnel-config)",
        ])
    }

    @Test func crlfAndByteOrderMark() throws {
        let text = "\u{FEFF}[imaps]\r\naccept = 993\r\n\r\nconnect = 143\r\nidle-timeout = x\r\n"
        #expect(throws: ConfigErrors([ConfigError(ConfigLocation(file: "win.conf", line: 5), key: "idle-timeout",
            "expected a duration like 500ms, 30s, 30m, 1h (bare number = seconds), got 'x'")])) {
            try RunConfig.parse(configText: text, file: "win.conf")
        }
        let fixed = text.replacingOccurrences(of: "= x", with: "= 5m")
        let run = try RunConfig.parse(configText: fixed, file: "win.conf")
        #expect(run.listeners.map(\.name) == ["imaps"])
        #expect(run.listeners.first?.connect == [HostPort(host: "127.0.0.1", port: 143)])
    }

    @Test func badAcceptIsNotAlsoMissing() throws {
        let dir = try TempDir()
        let file = try dir.write("imaps.conf", "accept = 99999\nconnect =\n")
        #expect(loadErrors(["--config", file]).map(\.description) == [
            "\(file):1: accept: port must be a number from 1 to 65535, got '99999'",
            "\(file):2: connect: expected [HOST:]PORT, got nothing",
        ])
    }

    @Test func metricsMayNotTakeAListenersPort() {
        #expect(loadErrors(["--accept", "993", "--connect", "143", "--metrics", "127.0.0.1:993"]).map(\.description)
                == ["command line: --metrics: 127.0.0.1:993 is already accepted by listener [993]"])
    }

    @Test func listenerNameFromFile() {
        #expect(ConfigFileParser.listenerName(forFile: "/etc/mailtunnel/imaps.conf") == "imaps")
        #expect(ConfigFileParser.listenerName(forFile: "submission") == "submission")
        #expect(ConfigFileParser.listenerName(forFile: "/x/a.b.conf") == "a.b")
    }

    @Test func missingFile() {
        let errors = loadErrors(["--config", "/nonexistent/imaps.conf"])
        #expect(errors.map(\.description)
                == ["/nonexistent/imaps.conf: cannot read the file: it does not exist"])
    }

    @Test func processWideKeysMustAgree() throws {
        let dir = try TempDir()
        let a = try dir.write("a.conf", "accept = 993\nconnect = 143\nuser = mail\n")
        let b = try dir.write("b.conf", "accept = 995\nconnect = 110\nuser = nobody\n")
        let c = try dir.write("c.conf", "accept = 465\nconnect = 25\n")
        #expect(loadErrors(["--config", a, "--config", b]).map(\.description)
                == ["\(b):3: user: is process-wide and was already set to 'mail' at \(a):3"])
        let run = try RunConfig.load(arguments: ["--config", a, "--config", c])
        // Process-wide values are held once, in run.daemon, for every listener (c.conf's too).
        #expect(run.daemon.user == "mail")
    }
}
