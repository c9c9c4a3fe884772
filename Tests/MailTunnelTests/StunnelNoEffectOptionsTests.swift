import Testing
import MailTunnelProtocols
@testable import MailTunnel

/// Lines from Debian's stunnel.conf that change nothing for mailtunnel are accepted with a warning each;
/// what would weaken TLS or change behaviour stays an error naming its line.
@Suite struct StunnelNoEffectOptionsTests {
    static let debianLines = """
        options = NO_SSLv2
        options = NO_SSLv3
        options = NO_TLSv1
        options = NO_TLSv1_1
        options = NO_COMPRESSION
        options = CIPHER_SERVER_PREFERENCE
        socket = l:TCP_NODELAY=1
        socket = r:TCP_NODELAY=1
        socket = a:SO_KEEPALIVE=1
        renegotiation = no
        syslog = no
        debug = 5
        output = /var/log/stunnel4/stunnel.log

        [imaps]
        accept = 993
        connect = 143
        """

    @Test func harmlessLinesAreAcceptedWithOneWarningEach() throws {
        let dir = try TempDir()
        let file = try dir.write("stunnel.conf", Self.debianLines)
        let run = try RunConfig.load(arguments: ["--stunnel-config", file])
        #expect(run.listeners.map(\.name) == ["imaps"])
        #expect(run.warnings.map(\.line) == Array(1...11))
        #expect(run.warnings[1].description.contains("options: has no effect: mailtunnel never offers SSL or TLS below 1.2"))
        #expect(run.warnings[6].description.contains("TCP_NODELAY on both sides"))
        #expect(run.daemon.logLevel == .info, "stunnel's default debug = 5 must still log every connection")
        #expect(run.daemon.log == .file("/var/log/stunnel4/stunnel.log"))
        #expect(CheckReport.render(run).contains("# warning: \(file):2: options: has no effect"))
    }

    @Test(arguments: [
        ("options = -NO_SSLv3", "clearing NO_SSLV3 would weaken TLS"),
        ("options = NO_TICKET", "only options with no effect"),
        ("renegotiation = yes", "never allows renegotiation"),
        ("socket = l:SO_RCVBUF=65536", "only socket options with no effect"),
        ("socket = TCP_NODELAY=1", "with an a:, l: or r: prefix"),
    ])
    func weakeningLinesAreRefusedWithTheirLine(line: String, expected: String) throws {
        let dir = try TempDir()
        let file = try dir.write("stunnel.conf", "\(line)\n[imaps]\naccept = 993\nconnect = 143\n")
        let error = #expect(throws: ConfigErrors.self) { try RunConfig.load(arguments: ["--stunnel-config", file]) }
        #expect(error?.errors.count == 1)
        #expect(error?.errors.first?.line == 1)
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test func aListenerOnAnUnknownPortWithoutProtocolIsWarnedAbout() throws {
        let run = try RunConfig.load(arguments: ["--accept", "10993", "--connect", "143"])
        #expect(run.listeners.first?.protocol == MailProtocol.none)
        #expect(run.warnings.count == 1)
        #expect(run.warnings.first?.message.contains("no protocol given and port 10993 is not a mail port") == true)
        #expect(try RunConfig.load(arguments: ["--accept", "10993", "--connect", "143", "--protocol", "none"]).warnings.isEmpty)
        #expect(try RunConfig.load(arguments: ["--accept", "993", "--connect", "143"]).warnings.isEmpty)
    }
}
