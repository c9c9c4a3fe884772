import Testing
import MailTunnelProtocols

/// Client mode's side of the upgrade: every server reply, good and bad, byte by byte and in one piece.
@Suite struct StartTLSClientDialogueTests {
    typealias Action = StartTLSClientDialogue.Action

    private func dialogue(_ proto: MailProtocol) -> StartTLSClientDialogue {
        StartTLSClientDialogue(protocol: proto, clientName: "relay.example")!
    }

    private func isFailure(_ actions: [Action]) -> Bool {
        actions.contains { if case .fail = $0 { true } else { false } }
    }

    /// Feeds each server reply in turn, one byte at a time, and returns every action.
    private func feedBytewise(_ d: inout StartTLSClientDialogue, _ replies: [String]) -> [Action] {
        replies.flatMap { reply in b(reply).flatMap { d.receive([$0][...]) } }
    }

    // MARK: SMTP

    static let smtpGreeting = "220-mx.example ESMTP\r\n220 mx.example ready\r\n"
    static let smtpEHLO = "250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"

    @Test func smtpUpgradesAfterEHLOListsSTARTTLS() {
        var d = dialogue(.smtp)
        #expect(d.receive(s(Self.smtpGreeting)) == [.send(b("EHLO relay.example\r\n"))])
        #expect(d.receive(s(Self.smtpEHLO)) == [.send(b("STARTTLS\r\n"))])
        #expect(d.receive(s("220 2.0.0 Ready to start TLS\r\n")) == [.startTLS])
        #expect(d.isUpgraded)
        // The application reads the server's own greeting once TLS is up, then sends its own EHLO.
        #expect(d.greetingForApplication == b(Self.smtpGreeting))
    }

    @Test func smtpByteByByteGivesTheSameActions() {
        var d = dialogue(.smtp)
        let actions = feedBytewise(&d, [Self.smtpGreeting, Self.smtpEHLO, "220 go ahead\r\n"])
        #expect(actions == [.send(b("EHLO relay.example\r\n")), .send(b("STARTTLS\r\n")), .startTLS])
    }

    @Test func smtpWithoutSTARTTLSFails() {
        var d = dialogue(.smtp)
        _ = d.receive(s(Self.smtpGreeting))
        #expect(d.receive(s("250-mx.example\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"))
                == [.fail("server does not offer STARTTLS")])
        #expect(d.receive(s("220 ready\r\n")) == [], "nothing more happens after a failure")
    }

    @Test func smtpSTARTTLSInsideAnotherLineDoesNotCount() {
        var d = dialogue(.smtp)
        _ = d.receive(s(Self.smtpGreeting))
        #expect(isFailure(d.receive(s("250-mx.example says STARTTLS\r\n250 X-NOSTARTTLS\r\n"))))
    }

    @Test func smtpRefusalsFail() {
        for (greeting, ehlo, reply) in [
            ("554 go away\r\n", "", ""),
            (Self.smtpGreeting, "502 5.5.1 no EHLO\r\n", ""),
            (Self.smtpGreeting, Self.smtpEHLO, "454 4.7.0 TLS not available\r\n"),
            (Self.smtpGreeting, Self.smtpEHLO, "220x\r\n"),
        ] {
            var d = dialogue(.smtp)
            let actions = [greeting, ehlo, reply].flatMap { d.receive(s($0)) }
            #expect(isFailure(actions), "\(greeting) \(ehlo) \(reply)")
            #expect(!actions.contains(.startTLS))
        }
    }

    /// Bytes after the 220 to STARTTLS were sent in plaintext but would be read as if they came through TLS
    /// (the mirror of CVE-2011-0411): the upgrade is refused.
    @Test func smtpDataAfterThe220IsRefused() {
        var d = dialogue(.smtp)
        _ = d.receive(s(Self.smtpGreeting))
        _ = d.receive(s(Self.smtpEHLO))
        #expect(d.receive(s("220 Ready\r\n250-injected\r\n")) == [.fail("server sent data after its STARTTLS reply")])
        #expect(!d.isUpgraded)
    }

    @Test func smtpDataAfterTheUpgradeBeganIsRefused() {
        var d = dialogue(.smtp)
        _ = d.receive(s(Self.smtpGreeting))
        _ = d.receive(s(Self.smtpEHLO))
        _ = d.receive(s("220 Ready\r\n"))
        #expect(isFailure(d.receive(s("250 late\r\n"))))
    }

    /// A server (or a man in the middle) answering before it is asked, e.g. an EHLO reply glued to the greeting.
    @Test func smtpUnaskedRepliesAreRefused() {
        var d = dialogue(.smtp)
        let actions = d.receive(s(Self.smtpGreeting + Self.smtpEHLO))
        #expect(actions == [.send(b("EHLO relay.example\r\n")), .fail("server sent data before it was asked")])
    }

    @Test func overlongLinesAndEndlessRepliesFail() {
        var d = dialogue(.smtp)
        #expect(isFailure(d.receive(Array(repeating: UInt8(ascii: "2"), count: 5000)[...])))
        var e = dialogue(.smtp)
        _ = e.receive(s(Self.smtpGreeting))
        let endless = String(repeating: "250-X\r\n", count: 300)
        #expect(isFailure(e.receive(s(endless))))
    }

    @Test func serverClosingBeforeTLSFails() {
        var d = dialogue(.smtp)
        _ = d.receive(s(Self.smtpGreeting))
        #expect(d.serverClosed() == [.fail("server closed the connection before TLS")])
    }

    // MARK: IMAP

    static let dovecotGreeting =
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n"

    @Test func imapUpgradesAndHidesThePreTLSCapabilities() {
        var d = dialogue(.imap)
        #expect(d.receive(s(Self.dovecotGreeting)) == [.send(b("C1 CAPABILITY\r\n"))])
        #expect(d.receive(s("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nC1 OK done\r\n")) == [.send(b("C2 STARTTLS\r\n"))])
        #expect(d.receive(s("C2 OK Begin TLS negotiation now.\r\n")) == [.startTLS])
        // LOGINDISABLED in the greeting would stop the application from logging in inside TLS.
        #expect(d.greetingForApplication == b("* OK Dovecot (Debian) ready.\r\n"))
    }

    @Test func imapGreetingWithoutCodePassesUnchanged() {
        var d = dialogue(.imap)
        _ = d.receive(s("* OK Cyrus ready\r\n"))
        #expect(d.greetingForApplication == b("* OK Cyrus ready\r\n"))
    }

    @Test func imapFailures() {
        for replies in [
            ["* PREAUTH welcome\r\n"],
            ["* BYE busy\r\n"],
            [Self.dovecotGreeting, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nC1 OK done\r\n"],
            [Self.dovecotGreeting, "C1 BAD no\r\n"],
            [Self.dovecotGreeting, "* CAPABILITY IMAP4rev1 STARTTLS\r\nC1 OK done\r\n", "C2 NO not now\r\n"],
            [Self.dovecotGreeting, "* CAPABILITY IMAP4rev1 STARTTLS\r\nC1 OK done\r\n", "C2 OK go\r\n* OK injected\r\n"],
        ] {
            var d = dialogue(.imap)
            let actions = replies.flatMap { d.receive(s($0)) }
            #expect(isFailure(actions), "\(replies)")
            #expect(!actions.contains(.startTLS), "\(replies)")
        }
    }

    // MARK: POP3

    @Test func pop3UpgradesAfterCAPAListsSTLS() {
        var d = dialogue(.pop3)
        let actions = feedBytewise(&d, ["+OK Dovecot ready.\r\n", "+OK\r\nCAPA\r\nTOP\r\nSTLS\r\nUIDL\r\n.\r\n", "+OK Begin TLS\r\n"])
        #expect(actions == [.send(b("CAPA\r\n")), .send(b("STLS\r\n")), .startTLS])
        #expect(d.greetingForApplication == b("+OK Dovecot ready.\r\n"))
    }

    @Test func pop3Failures() {
        for replies in [
            ["-ERR busy\r\n"],
            ["+OK hi\r\n", "-ERR no CAPA\r\n"],
            ["+OK hi\r\n", "+OK\r\nTOP\r\nUSER\r\n.\r\n"],
            ["+OK hi\r\n", "+OK\r\nSTLS\r\n.\r\n", "-ERR no\r\n"],
            ["+OK hi\r\n", "+OK\r\nSTLS\r\n.\r\n", "+OK go\r\n+OK injected\r\n"],
        ] {
            var d = dialogue(.pop3)
            let actions = replies.flatMap { d.receive(s($0)) }
            #expect(isFailure(actions), "\(replies)")
            #expect(!actions.contains(.startTLS), "\(replies)")
        }
    }

    @Test func noProtocolHasNoUpgrade() {
        #expect(StartTLSClientDialogue(protocol: .none, clientName: "x") == nil)
    }
}
