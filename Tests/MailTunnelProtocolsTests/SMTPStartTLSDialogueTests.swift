import Testing
import MailTunnelProtocols

@Suite struct SMTPStartTLSDialogueTests {
    static let greeting = "220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"
    /// Postfix 3.x with `broken_sasl_auth_clients = yes` and smtpd TLS enabled.
    static let postfixEHLO = """
        250-mail.example.org\r
        250-PIPELINING\r
        250-SIZE 10240000\r
        250-VRFY\r
        250-ETRN\r
        250-STARTTLS\r
        250-AUTH PLAIN LOGIN\r
        250-AUTH=PLAIN LOGIN\r
        250-ENHANCEDSTATUSCODES\r
        250-8BITMIME\r
        250-DSN\r
        250-SMTPUTF8\r
        250 CHUNKING\r

        """
    static let rewrittenEHLO = """
        250-mail.example.org\r
        250-PIPELINING\r
        250-SIZE 10240000\r
        250-VRFY\r
        250-ETRN\r
        250-ENHANCEDSTATUSCODES\r
        250-8BITMIME\r
        250-DSN\r
        250-SMTPUTF8\r
        250-CHUNKING\r
        250 STARTTLS\r

        """
    static let mustStartTLS = "530 5.7.0 Must issue a STARTTLS command first\r\n"
    static let ready = "220 2.0.0 Ready to start TLS\r\n"

    private func greeted() -> SMTPStartTLSDialogue {
        var dialogue = SMTPStartTLSDialogue()
        _ = dialogue.receiveFromBackend(s(Self.greeting))
        return dialogue
    }

    // MARK: Greeting and EHLO

    @Test func multiLineGreetingPassesThroughAndRefusalsWaitForItsEnd() {
        var dialogue = SMTPStartTLSDialogue()
        #expect(dialogue.receiveFromClient(s("MAIL FROM:<a@b>\r\n")) == [])
        #expect(dialogue.receiveFromBackend(s("220-mail.example.org ESMTP\r\n")) == [toClient("220-mail.example.org ESMTP\r\n")])
        #expect(dialogue.receiveFromBackend(s("220 Go ahead\r\n")) == [toClient("220 Go ahead\r\n"), toClient(Self.mustStartTLS)])
    }

    @Test func postfixEHLOReplyIsRewritten() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("EHLO client.example.net\r\n")) == [toBackend("EHLO client.example.net\r\n")])
        #expect(dialogue.receiveFromBackend(s(Self.postfixEHLO)) == [toClient(Self.rewrittenEHLO)])
    }

    @Test func ehloReplyCutAtEveryPosition() {
        let reply = b(Self.postfixEHLO)
        for split in 0...reply.count {
            var dialogue = greeted()
            _ = dialogue.receiveFromClient(s("ehlo x\r\n"))
            #expect(feedBackend(&dialogue, reply, splitAt: split) == [toClient(Self.rewrittenEHLO)], "split at \(split)")
        }
    }

    @Test func singleLineEHLOReplyBecomesMultiLine() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("EHLO x\r\n"))
        #expect(dialogue.receiveFromBackend(s("250 mail.example.org\r\n"))
                == [toClient("250-mail.example.org\r\n250 STARTTLS\r\n")])
    }

    @Test func lastLineAuthIsDroppedAndMarksRenumbered() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("EHLO x\r\n"))
        #expect(dialogue.receiveFromBackend(s("250-mx\r\n250-XCLIENT NAME ADDR\r\n250-auth=login\r\n250 AUTH LOGIN\r\n"))
                == [toClient("250-mx\r\n250 STARTTLS\r\n")])
    }

    @Test func trustExtensionsAreHiddenAndChunkingKept() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("EHLO x\r\n"))
        #expect(dialogue.receiveFromBackend(s("250-mx\r\n250-XFORWARD NAME ADDR\r\n250-CHUNKING\r\n250 xclient NAME\r\n"))
                == [toClient("250-mx\r\n250-CHUNKING\r\n250 STARTTLS\r\n")])
    }

    @Test func refusedEHLOPassesUnchanged() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("EHLO\r\n"))
        #expect(dialogue.receiveFromBackend(s("501 5.5.4 Syntax: EHLO hostname\r\n"))
                == [toClient("501 5.5.4 Syntax: EHLO hostname\r\n")])
    }

    @Test func otherForwardedCommands() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("HELO x\r\nNOOP\r\nrset\r\nQUIT\r\n"))
                == [toBackend("HELO x\r\n"), toBackend("NOOP\r\n"), toBackend("rset\r\n"), toBackend("QUIT\r\n")])
        #expect(dialogue.receiveFromBackend(s("250 mail.example.org\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"))
                == [toClient("250 mail.example.org\r\n"), toClient("250 2.0.0 Ok\r\n"),
                    toClient("250 2.0.0 Ok\r\n"), toClient("221 2.0.0 Bye\r\n")])
        #expect(dialogue.backendClosed() == [.close(reason: "backend closed the connection")])
    }

    // MARK: Refusals

    @Test func mailCommandsAreRefused() {
        var dialogue = greeted()
        for command in ["AUTH PLAIN AHVzZXIAcGFzcw==", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>",
                        "DATA", "BDAT 100 LAST", "mail from:<a@example.org>", "VRFY root", "EXPN staff", "ETRN x"] {
            #expect(dialogue.receiveFromClient(s(command + "\r\n")) == [toClient(Self.mustStartTLS)], "\(command)")
        }
    }

    @Test func unknownCommandsAndMalformedLines() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("HELP\r\n")) == [toClient("502 5.5.1 Command not available before STARTTLS\r\n")])
        #expect(dialogue.receiveFromClient(s("XYZZY\r\n")) == [toClient("502 5.5.1 Command not available before STARTTLS\r\n")])
        #expect(dialogue.receiveFromClient(s("\r\n")) == [toClient("500 5.5.2 Syntax error, command unrecognized\r\n")])
        #expect(dialogue.receiveFromClient(s(" EHLO x\r\n")) == [toClient("500 5.5.2 Syntax error, command unrecognized\r\n")])
        #expect(dialogue.receiveFromClient(s("EHLO x\u{0}\r\n")) == [toClient("500 5.5.2 Syntax error, NUL octet in command\r\n")])
        #expect(dialogue.receiveFromClient(s("STARTTLS now\r\n")) == [toClient("501 5.5.4 Syntax error\r\n")])
    }

    @Test func bareLFCutLineAndBareCR() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("NO")) == [])
        #expect(dialogue.receiveFromClient(s("OP\n")) == [toBackend("NOOP\n")])
        _ = dialogue.receiveFromBackend(s("250 2.0.0 Ok\r\n"))
        // A bare CR does not split: this is one unknown command "RSET\rMAIL", not RSET then MAIL.
        #expect(dialogue.receiveFromClient(s("RSET\rMAIL FROM:<a@b>\r\n"))
                == [toClient("502 5.5.1 Command not available before STARTTLS\r\n")])
    }

    // MARK: STARTTLS

    @Test func startTLSThenRelay() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("starttls\r\n")) == [toClient(Self.ready), .startTLS])
        #expect(dialogue.tlsEstablished() == [.relay])
        #expect(dialogue.receiveFromClient(s("EHLO x\r\n")) == [toBackend("EHLO x\r\n")])
        #expect(dialogue.receiveFromBackend(s("250-mx\r\n250 AUTH PLAIN\r\n")) == [toClient("250-mx\r\n250 AUTH PLAIN\r\n")])
    }

    @Test(arguments: ["STARTTLS\r\nNOOP\r\n", "STARTTLS\r\nEHLO x\r\n", "STARTTLS\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"])
    func injectionAfterStartTLSIsDiscardedWhateverTheSplit(_ text: String) {
        let input = b(text)
        for split in 0...input.count {
            var dialogue = greeted()
            let actions = feedClient(&dialogue, input, splitAt: split)
            #expect(actions == [toClient(Self.ready), .startTLS], "split at \(split)")
            #expect(!sendsToBackend(actions))
            #expect(dialogue.receiveFromClient(s("QUIT\r\n")) == [])
            #expect(dialogue.tlsEstablished() == [.relay])
        }
    }

    @Test func pipelinedCommandsKeepTheirOrderAndStartTLSWaits() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("EHLO x\r\nMAIL FROM:<a@b>\r\nNOOP\r\nSTARTTLS\r\nRCPT TO:<c@d>\r\n"))
                == [toBackend("EHLO x\r\n"), toBackend("NOOP\r\n")])
        #expect(dialogue.receiveFromBackend(s("250-mx\r\n250-AUTH PLAIN\r\n")) == [])
        #expect(dialogue.receiveFromBackend(s("250 8BITMIME\r\n250 2.0.")) == [
            toClient("250-mx\r\n250-8BITMIME\r\n250 STARTTLS\r\n"),
            toClient(Self.mustStartTLS),
        ])
        #expect(dialogue.receiveFromBackend(s("0 Ok\r\n")) == [toClient("250 2.0.0 Ok\r\n"), toClient(Self.ready), .startTLS])
        #expect(dialogue.tlsEstablished() == [.relay])
    }

    @Test func startTLSBeforeGreetingWaitsForIt() {
        var dialogue = SMTPStartTLSDialogue()
        #expect(dialogue.receiveFromClient(s("STARTTLS\r\n")) == [])
        #expect(dialogue.receiveFromBackend(s(Self.greeting)) == [toClient(Self.greeting), toClient(Self.ready), .startTLS])
    }

    @Test func backendBytesDuringHandshakeAreHeld() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("STARTTLS\r\n"))
        #expect(dialogue.receiveFromBackend(s("421 4.4.2 mx Error: timeout exceeded\r\n")) == [])
        #expect(dialogue.tlsEstablished() == [toClient("421 4.4.2 mx Error: timeout exceeded\r\n"), .relay])
    }

    @Test func unsolicitedBackendReplyIsPassedOn() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromBackend(s("421 4.4.2 mx Error: timeout exceeded\r\n"))
                == [toClient("421 4.4.2 mx Error: timeout exceeded\r\n")])
    }

    // MARK: Bad input

    @Test func longestAcceptedLineAndOversizedLine() {
        var dialogue = greeted()
        let line = "X" + String(repeating: "y", count: 512 - 3) + "\r\n"
        #expect(dialogue.receiveFromClient(s(line)) == [toClient("502 5.5.1 Command not available before STARTTLS\r\n")])
        let long = "EHLO " + String(repeating: "y", count: 512 - 6) + "\r\n"
        #expect(long.utf8.count == 513)
        #expect(dialogue.receiveFromClient(s(long))
                == [toClient("500 5.5.6 Line too long\r\n"), .close(reason: "client line too long")])
        #expect(dialogue.receiveFromClient(s("NOOP\r\n")) == [])
    }

    @Test func clientHelloClosesWithoutReply() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(clientHelloBytes[...]) == [.close(reason: "TLS ClientHello on a STARTTLS port")])
    }

    @Test func backendClosingBeforeGreeting() {
        var dialogue = SMTPStartTLSDialogue()
        #expect(dialogue.backendClosed() == [
            toClient("421 4.3.0 Mail service temporarily unavailable, try again later\r\n"),
            .close(reason: "backend closed the connection"),
        ])
    }

    @Test func backendClosingMidEHLODeliversWhatItSent() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("EHLO x\r\n"))
        _ = dialogue.receiveFromBackend(s("250-mx\r\n250-PIPE"))
        #expect(dialogue.backendClosed() == [toClient("250-mx\r\n250-PIPE"), .close(reason: "backend closed the connection")])
    }


    @Test(arguments: [1, 2] as [UInt64])
    func fuzzedInputKeepsTheInvariants(seed: UInt64) {
        let problems = fuzz(
            { SMTPStartTLSDialogue() }, seed: seed, rounds: 100,
            clientFragments: ["STARTTLS\r\n", "EHLO x\r\n", "HELO x\r\n", "NOOP\r\n", "RSET\r\n", "MAIL FROM:<a@b>\r\n",
                              "AUTH PLAIN\r\n", "QUIT\r\n", "starttls\n", "\r", "\n", "\r\n", "\u{0}", " ", "x",
                              String(repeating: "z", count: 300)],
            backendFragments: [Self.greeting, Self.postfixEHLO, "250-mx\r\n", "250 ok\r\n", "220-hi\r\n", "221 bye\r\n"],
            allowedVerbs: ["EHLO", "HELO", "NOOP", "RSET", "QUIT"],
            verbOffset: { $0 })
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    @Test func factoryMakesTheSMTPDialogue() {
        guard var dialogue = makeStartTLSDialogue(for: .smtp) else { Issue.record("no dialogue"); return }
        _ = dialogue.receiveFromBackend(s(Self.greeting))
        #expect(dialogue.receiveFromClient(s("STARTTLS\r\n")) == [toClient(Self.ready), .startTLS])
    }
}
