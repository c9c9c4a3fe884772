import Testing
@testable import MailTunnelProtocols

/// A made-up line protocol, to show what `StartTLSDialogue` does for any rules: `PING` is forwarded and answered
/// by the backend's `PONG`, `UP` is the upgrade, everything else is answered here.
private struct ToyRules: StartTLSRules {
    enum Pending: StartTLSPending { case greeting, pong }

    static let maxLineLength = 16
    static let startTLSVerb = "UP"
    static let wording = StartTLSWording(
        lineTooLong: "! too long\r\n", tooManyCommands: "! too many\r\n",
        unrequestedTLSReason: "TLS without UP", mailProtocol: .none)

    init() {}

    func command(_ line: LineReader.Line) -> StartTLSCommandVerdict<Pending> {
        if line.content.asciiEqualsUppercase("PING") { return .forward(awaiting: .pong) }
        if line.content.asciiEqualsUppercase(Self.startTLSVerb) { return .startTLS(reply: b("+ go\r\n")) }
        if line.content.asciiEqualsUppercase("BYE") { return .fatal(reply: b("! bye\r\n"), reason: "toy bye") }
        return .answer(b("? \(String(decoding: line.content, as: UTF8.self))\r\n"))
    }

    func reply(_ line: LineReader.Line, awaiting: Pending?) -> StartTLSReplyVerdict<Pending> {
        .pass([line.raw], completing: awaiting)
    }
}

@Suite struct StartTLSDialogueSeamTests {
    private typealias ToyDialogue = StartTLSDialogue<ToyRules>

    private func greeted() -> ToyDialogue {
        var dialogue = ToyDialogue()
        _ = dialogue.receiveFromBackend(s("hello\r\n"))
        return dialogue
    }

    @Test func localAnswersWaitBehindForwardedCommands() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("PING\r\nwho\r\n")) == [toBackend("PING\r\n")])
        #expect(dialogue.receiveFromBackend(s("PONG\r\n")) == [toClient("PONG\r\n"), toClient("? who\r\n")])
    }

    @Test func upgradeWaitsForEarlierRepliesAndDropsWhatFollowsIt() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("PING\r\nUP\r\nPING\r\n")) == [toBackend("PING\r\n")])
        #expect(dialogue.receiveFromClient(s("PING\r\n")) == [])
        #expect(dialogue.receiveFromBackend(s("PONG\r\n")) == [toClient("PONG\r\n"), toClient("+ go\r\n"), .startTLS])
        #expect(dialogue.receiveFromBackend(s("late\r\n")) == [])
        #expect(dialogue.tlsEstablished() == [toClient("late\r\n"), .relay])
    }

    @Test func wordingAndVerbComeFromTheRules() {
        var dialogue = greeted()
        #expect(ToyDialogue.maxLineLength == 16)
        #expect(dialogue.receiveFromClient(s(String(repeating: "x", count: 16)))
                == [toClient("! too long\r\n"), .close(reason: "client line too long")])
        var flooded = greeted()
        var last: [DialogueAction] = []
        for _ in 0...maxPendingCommands { last = flooded.receiveFromClient(s("PING\r\n")) }
        #expect(last == [toClient("! too many\r\n"), .close(reason: "too many pipelined commands before UP")])
        var early = ToyDialogue()
        #expect(early.tlsEstablished() == [.close(reason: "TLS without UP")])
        var fatal = greeted()
        #expect(fatal.receiveFromClient(s("BYE\r\nwho\r\n")) == [toClient("! bye\r\n"), .close(reason: "toy bye")])
    }
}

/// The per-protocol rules on their own: each verdict is what the dialogue then performs.
@Suite struct StartTLSRulesVerdictTests {
    private func line(_ text: String) -> LineReader.Line {
        LineReader.Line(raw: b(text), terminatorLength: text.hasSuffix("\r\n") ? 2 : 1)
    }

    @Test func pop3() {
        var rules = POP3StartTLSRules()
        #expect(rules.command(line("CAPA\r\n")) == .forward(awaiting: .capability))
        #expect(rules.command(line("stls\r\n")) == .startTLS(reply: b("+OK Begin TLS negotiation\r\n")))
        #expect(rules.command(line("USER bob\r\n")) == .answer(b("-ERR [AUTH] Must issue STLS first\r\n")))
        #expect(rules.reply(line("+OK\r\n"), awaiting: .capability) == .pass([b("+OK\r\n")], completing: nil))
        #expect(rules.reply(line("SASL PLAIN\r\n"), awaiting: .capability) == .pass([], completing: nil))
        #expect(rules.reply(line(".\r\n"), awaiting: .capability)
                == .pass([b("STLS\r\n"), b(".\r\n")], completing: .capability))
        #expect(rules.reply(line("-ERR timeout\r\n"), awaiting: nil) == .pass([b("-ERR timeout\r\n")], completing: nil))
    }

    @Test func smtpCollectsTheEHLOReply() {
        var rules = SMTPStartTLSRules()
        #expect(rules.command(line("EHLO c\r\n")) == .forward(awaiting: .ehlo))
        #expect(rules.command(line("STARTTLS x\r\n")) == .answer(b("501 5.5.4 Syntax error\r\n")))
        #expect(rules.reply(line("250-mx\r\n"), awaiting: .ehlo) == .pass([], completing: nil))
        #expect(rules.unsentReplyBytes == b("250-mx\r\n"))
        #expect(rules.reply(line("250 AUTH PLAIN\r\n"), awaiting: .ehlo)
                == .pass([b("250-mx\r\n250 STARTTLS\r\n")], completing: .ehlo))
        #expect(rules.unsentReplyBytes.isEmpty)
        #expect(rules.reply(line("220-a\r\n"), awaiting: .greeting) == .pass([b("220-a\r\n")], completing: nil))
    }

    @Test func imapSkipsLiteralOctetsByCount() {
        var rules = IMAPStartTLSRules()
        #expect(rules.clientOctetsBeforeNextLine == nil)
        #expect(rules.command(line("a LOGIN {5+}\r\n")) == .incomplete)
        #expect(rules.clientOctetsBeforeNextLine == 5)
        rules.clientOctetsSkipped(3)
        #expect(rules.clientOctetsBeforeNextLine == 2)
        rules.clientOctetsSkipped(2)
        #expect(rules.clientOctetsBeforeNextLine == nil)
        #expect(rules.command(line(" x\r\n")) == .answer(b("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n")))
        #expect(rules.reply(line("* 1 FETCH (BODY {2}\r\n"), awaiting: .tagged(b("a"))) == .pass([b("* 1 FETCH (BODY {2}\r\n")], completing: nil))
        #expect(rules.backendOctetsBeforeNextLine == 2)
        rules.backendOctetsPassed(2)
        #expect(rules.backendOctetsBeforeNextLine == nil)
        #expect(rules.reply(line("a OK done\r\n"), awaiting: .tagged(b("a"))) == .pass([b("a OK done\r\n")], completing: nil))
        #expect(rules.reply(line("b OK done\r\n"), awaiting: .tagged(b("b"))) == .pass([b("b OK done\r\n")], completing: .tagged(b("b"))))
    }
}
