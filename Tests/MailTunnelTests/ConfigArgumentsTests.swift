import Testing
import MailTunnelProtocols
@testable import MailTunnel

@Suite struct ConfigArgumentsTests {
    @Test func flagOnlyListener() throws {
        let run = try RunConfig.load(arguments: [
            "--accept", "[::1]:1993", "--connect=143", "--connect", "10.0.0.2:143", "--protocol=imap",
            "--idle-timeout", "45m", "--starttls", "--verify-depth=4", "--check",
        ])
        #expect(run.mode == .check)
        let listener = try #require(run.listeners.first)
        #expect(listener.name == "[::1]:1993")
        #expect(listener.accept == HostPort(host: "::1", port: 1993))
        #expect(listener.connect == [HostPort(host: "127.0.0.1", port: 143), HostPort(host: "10.0.0.2", port: 143)])
        #expect(listener.starttls == .yes)
        #expect(listener.idleTimeout == 2700)
        #expect(listener.verifyDepth == 4)
    }

    @Test func bareBooleanAndExplicitNo() throws {
        let (parsed, errors) = ListenerArguments.parse(["--xclient", "--starttls", "no", "--accept-proxy-protocol"])
        #expect(errors.isEmpty)
        #expect(parsed.assignments.map { "\($0.key)=\($0.value)" }
                == ["xclient=yes", "starttls=no", "accept-proxy-protocol=yes"])
    }

    @Test func flagsOverrideEveryFileListener() throws {
        let dir = try TempDir()
        let file = try dir.write("mail.conf", """
            idle-timeout = 10m
            [imaps]
            accept = 993
            connect = 143
            connect = 10143
            [pop3s]
            accept = 995
            connect = 110
            idle-timeout = 2m
            """)
        let run = try RunConfig.load(arguments: ["--config", file, "--idle-timeout", "1h", "--connect", "10.9.9.9:1143"])
        #expect(run.listeners.map(\.name) == ["imaps", "pop3s"])
        #expect(run.listeners.map(\.idleTimeout) == [3600, 3600])
        #expect(run.listeners.map(\.connect) == [[HostPort(host: "10.9.9.9", port: 1143)], [HostPort(host: "10.9.9.9", port: 1143)]])
        #expect(run.listeners.map(\.accept.port) == [993, 995], "keys not given as flags keep the file's values")
    }

    @Test func commandLineErrorsAllAtOnce() {
        let errors = loadErrors(["--accept", "993", "--connect", "143", "--bogus", "1", "stray",
                                 "--idle-timeout", "x", "--accept", "994", "--cert"])
        #expect(errors.map(\.description) == [
            "command line: --bogus: unknown option; see mailtunnel --help",
            "command line: unexpected argument '1'; options start with --",
            "command line: unexpected argument 'stray'; options start with --",
            "command line: --accept: given more than once; give it once",
            "command line: --cert: expected FILE after --cert",
            "command line: --idle-timeout: expected a duration like 500ms, 30s, 30m, 1h (bare number = seconds), got 'x'",
        ])
    }

    @Test func forgottenValueBeforeNextFlag() {
        #expect(loadErrors(["--accept", "993", "--cert", "--connect", "143"]).map(\.description)
                == ["command line: --cert: expected FILE after --cert"])
    }

    @Test func nothingToRun() {
        #expect(loadErrors([]).map(\.description)
                == ["command line: nothing to run; give --accept and --connect, --config FILE or --stunnel-config FILE"])
        #expect(loadErrors(["--accept", "993"]).map(\.description)
                == ["command line: connect: missing; every listener needs connect = [HOST:]PORT"])
    }

    @Test func helpAndVersionNeedNoListener() throws {
        #expect(try RunConfig.load(arguments: ["--help"]).mode == .help)
        #expect(try RunConfig.load(arguments: ["-h"]).mode == .help)
        #expect(try RunConfig.load(arguments: ["--version"]).mode == .version)
    }

    @Test func smtpGateOptions() throws {
        let dir = try TempDir()
        let ca = try dir.write("ca.pem", "pem")
        let run = try RunConfig.load(arguments: [
            "--accept", "587", "--connect", "10025", "--starttls", "yes", "--auth", "certificate", "--verify", "optional",
            "--ca-file", ca, "--xclient", "yes", "--allow-subject", "relay.example.org", "--allow-subject", "bob@example.org",
            "--proxy-protocol", "v2", "--metrics", "[::1]:9100", "--max-connections-per-ip", "50",
        ])
        let smtp = try #require(run.listeners.first)
        #expect(smtp.protocol == .smtp)
        #expect(smtp.auth == .certificate)
        #expect(smtp.allowSubject == ["relay.example.org", "bob@example.org"])
        #expect(smtp.proxyProtocol == .v2)
        #expect(run.daemon.metrics == HostPort(host: "::1", port: 9100))
        #expect(smtp.maxConnectionsPerIP == 50)
        #expect(loadErrors(["--accept", "587", "--connect", "25", "--auth", "certificate"]).map(\.message)
                == ["auth = certificate needs verify = optional or require"])
        #expect(loadErrors(["--accept", "995", "--connect", "110", "--allow-subject", "x"]).map(\.message)
                == ["allow-subject needs verify = optional or require"])
    }
}
