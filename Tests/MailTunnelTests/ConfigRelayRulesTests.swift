import Testing
import MailTunnelProtocols
@testable import MailTunnel

/// The main relay's keys (issue 13): what the validator refuses, and the rules a listener's runtime gets.
@Suite struct ConfigRelayRulesTests {
    @Test func conflictsAreErrorsNamingTheKey() throws {
        let dir = try TempDir()
        let map = try dir.write("senders", "alice alice@example.org\nbob\n")
        let file = try dir.write("relay.conf", """
            [imap]
            accept = 143
            connect = 1143
            starttls = optional

            [mx-xclient]
            accept = 25
            connect = 2525
            starttls = optional
            xclient = yes

            [no-gate]
            accept = 2526
            connect = 2525
            protocol = smtp
            local-domains = example.org
            trusted-networks = 10.0.0.0/8

            [bad-map]
            accept = 587
            connect = 2525
            auth = sasl
            sender-login-map = \(map)
            """)
        let errors = loadErrors(["--config", file])
        #expect(errors.map { "\($0.line ?? 0):\($0.key ?? "-")" } == ["4:starttls", "9:starttls", "16:local-domains",
                                                                       "17:trusted-networks", "23:sender-login-map"])
        #expect(errors[0].message == "starttls = optional is for smtp listeners (protocol is imap); IMAP and POP3 clients use starttls = yes")
        #expect(errors[4].message == "sender-login-map: \(map) line 2: login 'bob' has no address")
    }

    @Test func runtimeRulesComeFromTheKeysAndTheMapFile() throws {
        let dir = try TempDir()
        let map = try dir.write("senders", "alice alice@example.org\n")
        let run = try RunConfig.load(arguments: ["--accept", "25", "--connect", "2525", "--starttls", "optional",
                                                 "--auth", "sasl", "--local-domains", "example.org,.example.org",
                                                 "--sender-login-map", map])
        let config = try #require(run.listeners.first)
        #expect(config.starttls == .optional && config.usesStartTLS)
        let rules = try config.loadRelayRules()
        #expect(rules.authenticationRequired)
        #expect(rules.localDomains?.contains(domain: "mx.example.org") == true)
        #expect(rules.senderLogins?.ownership(of: "alice").owns(SMTPMailbox(localPart: "Alice", domain: "example.org")) == true)
    }
}
