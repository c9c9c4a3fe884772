import Testing
import MailTunnelProtocols

@Suite struct POP3StartTLSDialogueTests {
    static let apopGreeting = "+OK Dovecot (Debian) ready. <1896.697170952@dbc.mtview.ca.us>\r\n"
    /// Dovecot 2.3's pre-TLS CAPA reply (with STLS, since Dovecot itself offers it).
    static let dovecotCapa =
        "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
    static let rewrittenCapa = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\n.\r\n"
    static let mustSTLS = "-ERR [AUTH] Must issue STLS first\r\n"
    static let notPermitted = "-ERR Command not permitted before STLS\r\n"

    private func greeted() -> POP3StartTLSDialogue {
        var dialogue = POP3StartTLSDialogue()
        _ = dialogue.receiveFromBackend(s(Self.apopGreeting))
        return dialogue
    }

    /// All bytes sent to the client, concatenated.
    private func clientBytes(_ actions: [DialogueAction]) -> [UInt8] {
        actions.flatMap { action -> [UInt8] in
            if case .sendToClient(let bytes) = action { return bytes }
            return []
        }
    }

    @Test func greetingWithAPOPTimestampPassesExactly() {
        var dialogue = POP3StartTLSDialogue()
        #expect(dialogue.receiveFromBackend(s(Self.apopGreeting)) == [toClient(Self.apopGreeting)])
    }

    @Test func capaIsForwardedAndRewritten() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("CAPA\r\n")) == [toBackend("CAPA\r\n")])
        let actions = dialogue.receiveFromBackend(s(Self.dovecotCapa))
        #expect(clientBytes(actions) == b(Self.rewrittenCapa))
        #expect(!actions.contains(.startTLS))
    }

    @Test func capaWithoutBackendSTLSGetsOneAdded() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("capa\r\n"))
        let actions = dialogue.receiveFromBackend(s("+OK Capability list follows\r\nUSER\r\nsasl CRAM-MD5\r\nUIDL\r\n.\r\n"))
        #expect(clientBytes(actions) == b("+OK Capability list follows\r\nUIDL\r\nSTLS\r\n.\r\n"))
    }

    @Test func capaReplyCutAtEveryPosition() {
        let reply = b(Self.dovecotCapa)
        for split in 0...reply.count {
            var dialogue = greeted()
            _ = dialogue.receiveFromClient(s("CAPA\r\n"))
            #expect(clientBytes(feedBackend(&dialogue, reply, splitAt: split)) == b(Self.rewrittenCapa), "split at \(split)")
        }
    }

    @Test func capaErrorIsPassedThrough() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("CAPA\r\nSTLS\r\n"))
        #expect(dialogue.receiveFromBackend(s("-ERR Unknown command\r\n"))
                == [toClient("-ERR Unknown command\r\n"), toClient("+OK Begin TLS negotiation\r\n"), .startTLS])
    }

    @Test func dotStuffedCapabilityLineIsNotTheEnd() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("CAPA\r\nSTLS\r\n"))
        #expect(clientBytes(dialogue.receiveFromBackend(s("+OK\r\n..ODD\r\n"))) == b("+OK\r\n..ODD\r\n"))
        #expect(dialogue.receiveFromBackend(s(".\r\n"))
                == [toClient("STLS\r\n"), toClient(".\r\n"), toClient("+OK Begin TLS negotiation\r\n"), .startTLS])
    }

    @Test func noopAndQuitAreForwarded() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("NOOP\r\n")) == [toBackend("NOOP\r\n")])
        #expect(dialogue.receiveFromClient(s("quit\r\n")) == [toBackend("quit\r\n")])
        #expect(dialogue.receiveFromBackend(s("-ERR Unknown command: NOOP\r\n+OK Logging out.\r\n"))
                == [toClient("-ERR Unknown command: NOOP\r\n"), toClient("+OK Logging out.\r\n")])
        #expect(dialogue.backendClosed() == [.close(reason: "backend closed the connection")])
    }

    @Test func authenticationCommandsAreRefused() {
        var dialogue = greeted()
        for command in ["USER alice", "PASS secret", "APOP alice c4c9334bac560ecc979e58001b3e22fb", "AUTH PLAIN", "user alice", "Auth"] {
            #expect(dialogue.receiveFromClient(s(command + "\r\n")) == [toClient(Self.mustSTLS)], "\(command)")
        }
    }

    @Test func otherCommandsAreRefused() {
        var dialogue = greeted()
        for command in ["RETR 1", "LIST", "STAT", "UIDL", "", " CAPA", "CAPAX"] {
            #expect(dialogue.receiveFromClient(s(command + "\r\n")) == [toClient(Self.notPermitted)], "\(command)")
        }
        #expect(dialogue.receiveFromClient(s("STLS now\r\n")) == [toClient("-ERR STLS takes no arguments\r\n")])
    }

    @Test func nulInCommandIsRefused() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("CAPA\u{0}\r\n")) == [toClient("-ERR NUL octet in command\r\n")])
    }

    @Test func bareLFAndCutLines() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("CA")) == [])
        #expect(dialogue.receiveFromClient(s("PA\n")) == [toBackend("CAPA\n")])
        // A bare CR does not end "NOOP": the line is "NOOP\rUSER x".
        #expect(dialogue.receiveFromClient(s("NOOP\rUSER x\r\n")) == [])
        #expect(clientBytes(dialogue.receiveFromBackend(s(Self.dovecotCapa))) == b(Self.rewrittenCapa + Self.notPermitted))
    }

    @Test func stlsThenRelay() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("STLS\r\n")) == [toClient("+OK Begin TLS negotiation\r\n"), .startTLS])
        #expect(dialogue.tlsEstablished() == [.relay])
        #expect(dialogue.receiveFromClient(s("CAPA\r\n")) == [toBackend("CAPA\r\n")])
        #expect(dialogue.receiveFromBackend(s("+OK\r\nUSER\r\n.\r\n")) == [toClient("+OK\r\nUSER\r\n.\r\n")])
    }

    @Test func injectionAfterSTLSIsDiscardedWhateverTheSplit() {
        let input = b("STLS\r\nCAPA\r\n")
        for split in 0...input.count {
            var dialogue = greeted()
            let actions = feedClient(&dialogue, input, splitAt: split)
            #expect(actions == [toClient("+OK Begin TLS negotiation\r\n"), .startTLS], "split at \(split)")
            #expect(!sendsToBackend(actions))
            #expect(dialogue.receiveFromClient(s("USER alice\r\n")) == [])
            #expect(dialogue.tlsEstablished() == [.relay])
        }
    }

    @Test func stlsWaitsForTheWholeCapaReply() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(s("CAPA\r\nUSER a\r\nSTLS\r\nPASS x\r\n")) == [toBackend("CAPA\r\n")])
        #expect(clientBytes(dialogue.receiveFromBackend(s("+OK\r\nTOP\r\nUSER\r\n"))) == b("+OK\r\nTOP\r\n"))
        #expect(dialogue.receiveFromBackend(s(".\r\n")) == [
            toClient("STLS\r\n"), toClient(".\r\n"), toClient(Self.mustSTLS),
            toClient("+OK Begin TLS negotiation\r\n"), .startTLS,
        ])
        #expect(dialogue.tlsEstablished() == [.relay])
    }

    @Test func refusalsBeforeGreetingWaitForIt() {
        var dialogue = POP3StartTLSDialogue()
        #expect(dialogue.receiveFromClient(s("USER a\r\n")) == [])
        #expect(dialogue.receiveFromBackend(s(Self.apopGreeting)) == [toClient(Self.apopGreeting), toClient(Self.mustSTLS)])
    }

    @Test func longestAcceptedLineAndOversizedLine() {
        var dialogue = greeted()
        let line = "X" + String(repeating: "y", count: 4096 - 3) + "\r\n"
        #expect(dialogue.receiveFromClient(s(line)) == [toClient(Self.notPermitted)])
        #expect(dialogue.receiveFromClient(s(String(repeating: "y", count: 4096)))
                == [toClient("-ERR Line too long\r\n"), .close(reason: "client line too long")])
        #expect(dialogue.receiveFromClient(s("\r\nCAPA\r\n")) == [])
    }

    @Test func clientHelloClosesWithoutReply() {
        var dialogue = greeted()
        #expect(dialogue.receiveFromClient(clientHelloBytes[...]) == [.close(reason: "TLS ClientHello on a STARTTLS port")])
    }

    @Test func backendClosingBeforeGreeting() {
        var dialogue = POP3StartTLSDialogue()
        #expect(dialogue.backendClosed() == [
            toClient("-ERR [SYS/TEMP] Mail service temporarily unavailable, try again later\r\n"),
            .close(reason: "backend closed the connection"),
        ])
    }

    @Test func backendClosingMidReplyDeliversWhatItSent() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("NOOP\r\n"))
        _ = dialogue.receiveFromBackend(s("-ERR bye"))
        #expect(dialogue.backendClosed() == [toClient("-ERR bye"), .close(reason: "backend closed the connection")])
    }

    @Test func backendBytesDuringHandshakeAreHeld() {
        var dialogue = greeted()
        _ = dialogue.receiveFromClient(s("STLS\r\n"))
        #expect(dialogue.receiveFromBackend(s("-ERR Disconnected for inactivity.\r\n")) == [])
        #expect(dialogue.tlsEstablished() == [toClient("-ERR Disconnected for inactivity.\r\n"), .relay])
    }


    @Test(arguments: [1, 2] as [UInt64])
    func fuzzedInputKeepsTheInvariants(seed: UInt64) {
        let problems = fuzz(
            { POP3StartTLSDialogue() }, seed: seed, rounds: 100,
            clientFragments: ["STLS\r\n", "CAPA\r\n", "NOOP\r\n", "USER a\r\n", "PASS b\r\n", "QUIT\r\n", "stls\n",
                              "\r", "\n", "\r\n", "\u{0}", " ", "x", String(repeating: "z", count: 2000)],
            backendFragments: [Self.apopGreeting, Self.dovecotCapa, "+OK\r\n", "-ERR no\r\n", ".\r\n", "USER\r\n"],
            allowedVerbs: ["CAPA", "NOOP", "QUIT"],
            verbOffset: { $0 })
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    @Test func factoryMakesThePOP3Dialogue() {
        guard var dialogue = makeStartTLSDialogue(for: .pop3) else { Issue.record("no dialogue"); return }
        _ = dialogue.receiveFromBackend(s(Self.apopGreeting))
        #expect(dialogue.receiveFromClient(s("STLS\r\n")) == [toClient("+OK Begin TLS negotiation\r\n"), .startTLS])
    }
}
