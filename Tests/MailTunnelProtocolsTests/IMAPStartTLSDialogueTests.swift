import Testing
import MailTunnelProtocols

@Suite struct IMAPStartTLSDialogueTests {
    static let dovecotGreeting =
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.\r\n"
    static let rewrittenGreeting =
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n"

    /// A dialogue that has passed the Dovecot greeting on.
    private func greeted() -> IMAPStartTLSDialogue {
        var dialogue = IMAPStartTLSDialogue()
        _ = dialogue.receiveFromBackend(s(Self.dovecotGreeting))
        return dialogue
    }

    // MARK: Capabilities

    @Test func greetingCapabilityCodeIsRewritten() {
        var dialogue = IMAPStartTLSDialogue()
        #expect(dialogue.receiveFromBackend(s(Self.dovecotGreeting)) == [toClient(Self.rewrittenGreeting)])
    }

    @Test func greetingWithoutCapabilitiesPassesUnchanged() {
        var dialogue = IMAPStartTLSDialogue()
        #expect(dialogue.receiveFromBackend(s("* OK Cyrus IMAP ready\r\n")) == [toClient("* OK Cyrus IMAP ready\r\n")])
    }

    @Test func greetingCutAcrossReadsIsRewrittenOnce() {
        let greeting = b(Self.dovecotGreeting)
        for split in 0...greeting.count {
            var dialogue = IMAPStartTLSDialogue()
            #expect(feedBackend(&dialogue, greeting, splitAt: split) == [toClient(Self.rewrittenGreeting)],
                    "split at \(split)")
        }
    }

    @Test func capabilityCommandIsForwardedAndReplyRewritten() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a1 CAPABILITY\r\n")) == [toBackend("a1 CAPABILITY\r\n")])
        let reply = dialogue.receiveFromBackend(s(
            "* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN auth=login LoginDisabled ID\r\na1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"))
        #expect(reply == [
            toClient("* CAPABILITY IMAP4rev1 ID STARTTLS LOGINDISABLED\r\n"),
            toClient("a1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"),
        ])
    }

    @Test func capabilityCodeInTaggedReplyIsRewritten() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("t NOOP\r\n"))
        #expect(dialogue.receiveFromBackend(s("t OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] Done\r\n"))
                == [toClient("t OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Done\r\n")])
    }

    @Test func emptyCapabilityListGetsOurs() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromBackend(s("* CAPABILITY\r\n")) == [toClient("* CAPABILITY STARTTLS LOGINDISABLED\r\n")])
    }

    @Test func bareLFFromBackendIsKept() {
        var dialogue = IMAPStartTLSDialogue()
        #expect(dialogue.receiveFromBackend(s("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\n"))
                == [toClient("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\n")])
    }

    // MARK: Forwarded commands

    @Test func harmlessCommandsAreForwardedByteForByte() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a noop\r\n")) == [toBackend("a noop\r\n")])
        #expect(dialogue.receiveFromClient(s("b ID (\"name\" \"mutt\")\r\n")) == [toBackend("b ID (\"name\" \"mutt\")\r\n")])
        #expect(dialogue.receiveFromClient(s("c Capability\n")) == [toBackend("c Capability\n")])
        #expect(dialogue.receiveFromClient(s("d LOGOUT\r\n")) == [toBackend("d LOGOUT\r\n")])
    }

    @Test func logoutThenBackendClose() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("z LOGOUT\r\n"))
        #expect(dialogue.receiveFromBackend(s("* BYE Logging out\r\nz OK Logout completed.\r\n"))
                == [toClient("* BYE Logging out\r\n"), toClient("z OK Logout completed.\r\n")])
        #expect(dialogue.backendClosed() == [.close(reason: "backend closed the connection")])
        #expect(dialogue.receiveFromClient(s("a NOOP\r\n")) == [])
    }

    @Test func lineCutMidwayIsForwardedWhenComplete() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a NO")) == [])
        #expect(dialogue.receiveFromClient(s("OP\r")) == [])
        #expect(dialogue.receiveFromClient(s("\n")) == [toBackend("a NOOP\r\n")])
    }

    // MARK: Refusals

    @Test func loginAndAuthenticateAreRefused() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a LOGIN user secret\r\n"))
                == [toClient("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n")])
        #expect(dialogue.receiveFromClient(s("b authenticate PLAIN\r\n"))
                == [toClient("b NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n")])
    }

    @Test func otherCommandsAreBad() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a SELECT INBOX\r\n")) == [toClient("a BAD Command not permitted before STARTTLS\r\n")])
        #expect(dialogue.receiveFromClient(s("b XYZZY\r\n")) == [toClient("b BAD Command not permitted before STARTTLS\r\n")])
        #expect(dialogue.receiveFromClient(s("c NOOP now\r\n")) == [toClient("c BAD Unexpected arguments\r\n")])
        #expect(dialogue.receiveFromClient(s("d STARTTLS now\r\n")) == [toClient("d BAD Unexpected arguments\r\n")])
        #expect(dialogue.receiveFromClient(s("e ID\r\n")) == [toClient("e BAD Missing arguments\r\n")])
        #expect(dialogue.receiveFromClient(s("f\r\n")) == [toClient("f BAD Missing command\r\n")])
        #expect(dialogue.receiveFromClient(s("g \r\n")) == [toClient("g BAD Missing command\r\n")])
    }

    @Test func linesWithoutAValidTag() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("\r\n")) == [toClient("* BAD Missing or invalid tag\r\n")])
        #expect(dialogue.receiveFromClient(s(" NOOP\r\n")) == [toClient("* BAD Missing or invalid tag\r\n")])
        #expect(dialogue.receiveFromClient(s("a* NOOP\r\n")) == [toClient("* BAD Missing or invalid tag\r\n")])
        #expect(dialogue.receiveFromClient(s("+ NOOP\r\n")) == [toClient("* BAD Missing or invalid tag\r\n")])
        #expect(dialogue.receiveFromClient(s("a\u{1}b NOOP\r\n")) == [toClient("* BAD Missing or invalid tag\r\n")])
    }

    @Test func nulInCommandLineIsBad() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a NOOP\u{0}\r\n")) == [toClient("a BAD NUL octet in command\r\n")])
        #expect(dialogue.receiveFromClient(s("\u{0}a NOOP\r\n")) == [toClient("* BAD Missing or invalid tag\r\n")])
    }

    @Test func bareCRDoesNotSplitACommand() {
        var dialogue = greeted()
        // One line whose command word is "NOOP\rb": refused, and "b LOGIN" is never seen as a command.
        #expect(dialogue.receiveFromClient(s("a NOOP\rb LOGIN x y\r\n"))
                == [toClient("a BAD Command not permitted before STARTTLS\r\n")])
    }

    @Test func bareLFCommandIsForwardedAsSent() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a NOOP\nb LOGIN x y\n"))
                == [toBackend("a NOOP\n")])
        #expect(dialogue.receiveFromBackend(s("a OK NOOP completed.\n"))
                == [toClient("a OK NOOP completed.\n"),
                    toClient("b NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n")])
    }

    // MARK: STARTTLS

    @Test func startTLSThenRelay() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a STARTTLS\r\n"))
                == [toClient("a OK Begin TLS negotiation now\r\n"), .startTLS])
        #expect(dialogue.tlsEstablished() == [.relay])
        // Should the engine keep feeding the dialogue, bytes pass through untouched.
        #expect(dialogue.receiveFromClient(s("b CAPABILITY\r\n")) == [toBackend("b CAPABILITY\r\n")])
        #expect(dialogue.receiveFromBackend(s("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"))
                == [toClient("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")])
    }

    @Test func injectionAfterStartTLSIsDiscardedWhateverTheSplit() {
        let input = b("a STARTTLS\r\nb NOOP\r\n")
        for split in 0...input.count {
            var dialogue = greeted()
            let actions = feedClient(&dialogue, input, splitAt: split)
            #expect(actions == [toClient("a OK Begin TLS negotiation now\r\n"), .startTLS], "split at \(split)")
            #expect(!sendsToBackend(actions))
            #expect(dialogue.receiveFromClient(s("c LOGIN x y\r\n")) == [])
            #expect(dialogue.tlsEstablished() == [.relay], "split at \(split)")
        }
    }

    @Test func lowercaseStartTLS() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("x starttls\r\n")) == [toClient("x OK Begin TLS negotiation now\r\n"), .startTLS])
    }

    @Test func startTLSWaitsForOutstandingForwardedCommands() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a CAPABILITY\r\nb NOOP\r\nc STARTTLS\r\nd LOGIN x y\r\n"))
                == [toBackend("a CAPABILITY\r\n"), toBackend("b NOOP\r\n")])
        #expect(dialogue.receiveFromClient(s("e NOOP\r\n")) == [])
        #expect(dialogue.receiveFromBackend(s("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na OK done\r\n"))
                == [toClient("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"), toClient("a OK done\r\n")])
        #expect(dialogue.receiveFromBackend(s("b OK NOOP completed.\r\n"))
                == [toClient("b OK NOOP completed.\r\n"), toClient("c OK Begin TLS negotiation now\r\n"), .startTLS])
        #expect(dialogue.tlsEstablished() == [.relay])
    }

    @Test func backendBytesDuringHandshakeAreHeldForTheTLSSession() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("a NOOP\r\nb STARTTLS\r\n"))
        #expect(dialogue.receiveFromBackend(s("a OK NOOP\r\n* BYE Autologout"))
                == [toClient("a OK NOOP\r\n"), toClient("b OK Begin TLS negotiation now\r\n"), .startTLS])
        #expect(dialogue.receiveFromBackend(s("\r\n")) == [])
        #expect(dialogue.tlsEstablished() == [toClient("* BYE Autologout\r\n"), .relay])
    }

    @Test func refusalsBeforeTheGreetingWaitForIt() {
        var dialogue = IMAPStartTLSDialogue()
        #expect(dialogue.receiveFromClient(s("a LOGIN x y\r\nb STARTTLS\r\n")) == [])
        #expect(dialogue.receiveFromBackend(s(Self.dovecotGreeting)) == [
            toClient(Self.rewrittenGreeting),
            toClient("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n"),
            toClient("b OK Begin TLS negotiation now\r\n"), .startTLS,
        ])
    }

    @Test func startTLSWithoutPriorStartTLSRequestCloses() {
        var dialogue = greeted()
        #expect(dialogue.tlsEstablished() == [.close(reason: "TLS established without a STARTTLS request")])
    }

    // MARK: Literals

    @Test func synchronisingLiteralIsRefusedWithoutContinuation() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a LOGIN {5}\r\n"))
                == [toClient("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n")])
        // The client must not send the literal; its next line is a new command.
        #expect(dialogue.receiveFromClient(s("b NOOP\r\n")) == [toBackend("b NOOP\r\n")])
    }

    @Test func synchronisingLiteralOnAForwardableCommand() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a ID ({4}\r\n")) == [toClient("a BAD Literals not accepted before STARTTLS\r\n")])
    }

    @Test func nonSynchronisingLiteralIsSkippedByCount() {
        // The 8 literal octets "b NOOP\r\n" look like a command but are data; " pw" ends the LOGIN command.
        let input = b("a LOGIN {8+}\r\nb NOOP\r\n pw\r\nc NOOP\r\n")
        for split in 0...input.count {
            var dialogue = greeted()
            #expect(feedClient(&dialogue, input, splitAt: split) == [
                toClient("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n"),
                toBackend("c NOOP\r\n"),
            ], "split at \(split)")
        }
    }

    @Test func chainedNonSynchronisingLiterals() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a LOGIN {5+}\r\nuser1 {5+}\r\nx\r\nyz\r\nb STARTTLS\r\n")) == [
            toClient("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n"),
            toClient("b OK Begin TLS negotiation now\r\n"), .startTLS,
        ])
    }

    @Test func nonSynchronisingLiteralThenSynchronisingOne() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a LOGIN {5+}\r\nuser1 {6}\r\n"))
                == [toClient("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n")])
        #expect(dialogue.receiveFromClient(s("b NOOP\r\n")) == [toBackend("b NOOP\r\n")])
    }

    @Test func nonSynchronisingLiteralCanHideStartTLSWithoutEffect() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a ID {12+}\r\nb STARTTLS\r\n)\r\n"))
                == [toClient("a BAD Literals not accepted before STARTTLS\r\n")])
        #expect(dialogue.receiveFromClient(s("c STARTTLS\r\n")) == [toClient("c OK Begin TLS negotiation now\r\n"), .startTLS])
    }

    @Test func literalWithoutTagIsStillSkipped() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("* LOGIN {3+}\r\nabc\r\nb NOOP\r\n"))
                == [toClient("* BAD Missing or invalid tag\r\n"), toBackend("b NOOP\r\n")])
    }

    @Test func hugeLiteralClosesTheConnection() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a LOGIN {65537+}\r\n"))
                == [toClient("* BAD [TOOBIG] Literal too large\r\n"), .close(reason: "client literal too large")])
        #expect(dialogue.receiveFromClient(s("b NOOP\r\n")) == [])
    }

    @Test func backendLiteralIsPassedThroughWithoutBeingParsed() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a ID NIL\r\nb STARTTLS\r\n")) == [toBackend("a ID NIL\r\n")])
        // The literal contains "a OK x\r\n", which must not count as a's tagged reply.
        #expect(dialogue.receiveFromBackend(s("* ID (\"name\" {8}\r\na OK x\r\n)\r\n"))
                == [toClient("* ID (\"name\" {8}\r\n"), toClient("a OK x\r\n"), toClient(")\r\n")])
        #expect(dialogue.receiveFromBackend(s("a OK ID completed.\r\n"))
                == [toClient("a OK ID completed.\r\n"), toClient("b OK Begin TLS negotiation now\r\n"), .startTLS])
    }

    // MARK: Bad input

    @Test func longestAcceptedLine() {
        var dialogue = greeted()
        let line = "a X" + String(repeating: "y", count: 8192 - 5) + "\r\n"
        #expect(line.utf8.count == 8192)
        #expect(dialogue.receiveFromClient(s(line)) == [toClient("a BAD Command not permitted before STARTTLS\r\n")])
    }

    @Test func oversizedLineClosesAsSoonAsTheLimitIsPassed() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a X" + String(repeating: "y", count: 8000))) == [])
        #expect(dialogue.receiveFromClient(s(String(repeating: "y", count: 200)))
                == [toClient("* BAD [TOOBIG] Line too long\r\n"), .close(reason: "client line too long")])
        #expect(dialogue.receiveFromClient(s("\r\nb NOOP\r\n")) == [])
    }

    @Test func clientHelloClosesWithoutReply() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(clientHelloBytes[...]) == [.close(reason: "TLS ClientHello on a STARTTLS port")])
        #expect(dialogue.receiveFromBackend(s("* BYE\r\n")) == [])
    }

    @Test func clientHelloSplitAfterFirstByte() {
        var dialogue = IMAPStartTLSDialogue()
        #expect(dialogue.receiveFromClient(clientHelloBytes[..<1]) == [])
        #expect(dialogue.receiveFromClient(clientHelloBytes[1...]) == [.close(reason: "TLS ClientHello on a STARTTLS port")])
    }

    @Test func handshakeByteOnlyLaterIsJustABadLine() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("a NOOP\r\n")) == [toBackend("a NOOP\r\n")])
        _ = dialogue.receiveFromBackend(s("a OK\r\n"))
        #expect(dialogue.receiveFromClient([0x16, 0x03, 0x0D, 0x0A][...]) == [toClient("* BAD Missing or invalid tag\r\n")])
    }

    @Test func backendClosingBeforeGreeting() {
        var dialogue = IMAPStartTLSDialogue()
        #expect(dialogue.backendClosed() == [
            toClient("* BYE [UNAVAILABLE] Mail service temporarily unavailable, try again later\r\n"),
            .close(reason: "backend closed the connection"),
        ])
        #expect(dialogue.receiveFromClient(s("a NOOP\r\n")) == [])
    }

    @Test func backendClosingAfterGreeting() {
        var dialogue = greeted()
        #expect(dialogue.backendClosed() == [.close(reason: "backend closed the connection")])
    }

    @Test func backendClosingDuringHandshake() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("a STARTTLS\r\n"))
        #expect(dialogue.backendClosed() == [.close(reason: "backend closed the connection")])
        #expect(dialogue.tlsEstablished() == [.close(reason: "TLS established without a STARTTLS request")])
    }

    @Test func tooManyPipelinedCommandsBeforeTheGreeting() {
        var dialogue = IMAPStartTLSDialogue()
        let lines = String(repeating: "a LOGIN x y\r\n", count: 63)
        #expect(dialogue.receiveFromClient(s(lines)) == [])
        #expect(dialogue.receiveFromClient(s("a LOGIN x y\r\n"))
                == [toClient("* BYE Too many pipelined commands\r\n"), .close(reason: "too many pipelined commands before STARTTLS")])
    }


    @Test(arguments: [1, 2] as [UInt64])
    func fuzzedInputKeepsTheInvariants(seed: UInt64) {
        let problems = fuzz(
            { IMAPStartTLSDialogue() }, seed: seed, rounds: 100,
            clientFragments: ["a STARTTLS\r\n", "b NOOP\r\n", "c CAPABILITY\r\n", "d LOGIN x y\r\n", "e ID NIL\r\n",
                              "f LOGIN {5+}\r\n", "g LOGIN {5}\r\n", "{3+}\r\n", "\r", "\n", "\r\n", "\u{0}", " ",
                              "h LOGOUT", "i starttls\n", "x", String(repeating: "z", count: 3000)],
            backendFragments: [Self.dovecotGreeting, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n", "b OK done\r\n",
                               "c OK done\r\n", "e OK\r\n", "* ID ({4}\r\n", "h OK bye\r\n", "* BYE\r\n"],
            allowedVerbs: ["NOOP", "CAPABILITY", "ID", "LOGOUT"],
            verbOffset: { line in line.drop { $0 != UInt8(ascii: " ") }.dropFirst() })
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    @Test func factoryMakesTheIMAPDialogue() {
        guard var dialogue = makeStartTLSDialogue(for: .imap) else { Issue.record("no dialogue"); return }
        #expect(dialogue.receiveFromBackend(s(Self.dovecotGreeting)) == [toClient(Self.rewrittenGreeting)])
        #expect(makeStartTLSDialogue(for: .none) == nil)
    }
}
