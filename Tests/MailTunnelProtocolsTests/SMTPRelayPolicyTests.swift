import Testing
@testable import MailTunnelProtocols

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
private let local = try! LocalDomains(["example.org"])
private func relayDenied(_ address: String) -> String { "554 5.7.1 <\(address)>: Relay access denied\r\n" }

/// Runs client input through a guard in pieces cut at `cuts`, then the backend's replies in one piece; returns what
/// reached the backend and what reached the client.
private func session(_ policy: SMTPTransactionPolicy, client input: String, backend replies: String,
                     cuts: [Int] = [], extensions: SMTPExtensions = .none) -> (backend: String, client: String) {
    var relayGuard = SMTPRelayGuard(extensions: extensions, policy: policy)
    let bytes = Array(input.utf8)
    var toBackend: [UInt8] = []
    var toClient: [UInt8] = []
    var start = 0
    for cut in cuts.map({ min($0, bytes.count) }) + [bytes.count] where cut >= start {
        toBackend += relayGuard.fromClient(bytes[start..<cut])
        toClient += relayGuard.takeClientReplies()
        start = cut
    }
    let out = relayGuard.fromBackend(Array(replies.utf8)[...])
    return (text(toBackend + out.toBackend), text(toClient + out.toClient))
}

@Suite("SMTP relay policy in the guard, the gate and the optional STARTTLS dialogue")
struct SMTPRelayPolicyTests {
    // MARK: Guard

    @Test func pipelinedRecipientsAreCheckedInOrderAtEverySplit() {
        let input = "MAIL FROM:<x@remote.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@evil.net>\r\n"
            + "  rcpt to:<C@Example.ORG.> NOTIFY=NEVER\r\nRCPT TO:<d%evil.net@example.org>\r\nDATA\r\n"
        let backend = "MAIL FROM:<x@remote.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<C@example.org> NOTIFY=NEVER\r\nDATA\r\n"
        let replies = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n"
        let client = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" + relayDenied("b@evil.net") + "250 2.1.5 Ok\r\n"
            + relayDenied("d%evil.net@example.org") + "354 End data\r\n"
        let policy = SMTPTransactionPolicy(recipients: local)
        for split in 0...input.utf8.count {
            let result = session(policy, client: input, backend: replies, cuts: [split])
            #expect(result.backend == backend, "split at \(split)")
            #expect(result.client == client, "split at \(split)")
        }
        let byteByByte = session(policy, client: input, backend: replies, cuts: Array(0...input.utf8.count))
        #expect(byteByByte.backend == backend && byteByByte.client == client)
    }

    @Test func refusalWithNothingOutstandingIsAnsweredAtOnce() {
        let result = session(SMTPTransactionPolicy(recipients: local), client: "RCPT TO:<z@evil.net>\r\n", backend: "")
        #expect(result.backend == "" && result.client == relayDenied("z@evil.net"))
    }

    @Test func rsetSecondTransactionAndBDATStayChecked() {
        let input = "MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<b@evil.net>\r\n"
            + "BDAT 6 LAST\r\nRCPT\r\nRCPT TO:<c@example.org>\r\nXFORWARD ADDR=1.2.3.4\r\nRCPT TO:b@evil.net\r\n"
        let result = session(SMTPTransactionPolicy(recipients: local), client: input,
                             backend: "250 a\r\n250 b\r\n250 c\r\n250 d\r\n250 e\r\n250 f\r\n502 g\r\n",
                             extensions: SMTPExtensions(chunking: true))
        // The BDAT chunk "RCPT" is data the backend consumes; the RCPT lines after it are commands again.
        #expect(result.backend == "MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nRSET\r\nMAIL FROM:<>\r\n"
                + "BDAT 6 LAST\r\nRCPT\r\nRCPT TO:<c@example.org>\r\nX-MAILTUNNEL-DENIED\r\n")
        #expect(result.client == "250 a\r\n250 b\r\n250 c\r\n250 d\r\n" + relayDenied("b@evil.net")
                + "250 e\r\n250 f\r\n502 g\r\n501 5.1.3 Bad address syntax: expected <address>\r\n")
    }

    @Test func messageContentIsNotMistakenForCommands() {
        let input = "DATA\r\nRCPT TO:<x@evil.net>\r\n.\r\nRCPT TO:<x@evil.net>\r\n"
        var relayGuard = SMTPRelayGuard(policy: SMTPTransactionPolicy(recipients: local))
        #expect(text(relayGuard.fromClient(Array(input.utf8)[...])) == "DATA\r\n")
        let out = relayGuard.fromBackend(Array("354 go\r\n".utf8)[...])
        #expect(text(out.toBackend) == "RCPT TO:<x@evil.net>\r\n.\r\n")
        #expect(text(out.toClient) == "354 go\r\n")
        #expect(text(relayGuard.fromBackend(Array("250 queued\r\n".utf8)[...]).toClient) == "250 queued\r\n" + relayDenied("x@evil.net"))
    }

    @Test func overlongCheckedLineIsDenied() {
        let long = "RCPT TO:<a@example.org> X=" + String(repeating: "y", count: 3000) + "\r\n"
        let result = session(SMTPTransactionPolicy(recipients: local), client: long, backend: "")
        #expect(result.backend == "X-MAILTUNNEL-DENIED\r\n")
    }

    @Test func senderOwnershipIsCheckedForTheLogin() throws {
        let map = try SenderLoginMap(text: "alice alice@example.org\n")
        let policy = SMTPTransactionPolicy(sender: map.ownership(of: "alice"))
        let result = session(policy, client: "MAIL FROM:<ceo@example.org>\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<x@far.net>\r\n",
                             backend: "250 ok\r\n250 ok\r\n")
        #expect(result.backend == "MAIL FROM:<alice@example.org>\r\nRCPT TO:<x@far.net>\r\n")
        #expect(result.client == "553 5.7.1 <ceo@example.org>: Sender address rejected: not owned by user alice\r\n"
                + "250 ok\r\n250 ok\r\n")
    }

    // MARK: Gate

    static let client = SocketEndpoint(address: .v4(192, 0, 2, 55), port: 40000)

    func gate(rules: SMTPRelayRules, trusted: Bool = false) -> SMTPAuthGateDialogue {
        var gate = SMTPAuthGateDialogue(mode: .sasl, authenticator: FakeAuthenticator(), client: Self.client,
                                        certificateIdentity: nil, xclient: false, relayRules: rules, trusted: trusted)
        _ = gate.backend("220 backend ESMTP\r\n")
        _ = gate.client("EHLO client.example\r\n")
        _ = gate.backend("250-backend\r\n250 PIPELINING\r\n")
        return gate
    }

    @Test func unauthenticatedClientDeliversLocallyOnly() {
        var gate = gate(rules: SMTPRelayRules(authenticationRequired: true, localDomains: local))
        let actions = gate.client("MAIL FROM:<x@remote.net>\r\nRCPT TO:<b@evil.net>\r\nRCPT TO:<a@example.org>\r\n")
        #expect(actions == [toBackend("MAIL FROM:<x@remote.net>\r\n"), toBackend("RCPT TO:<a@example.org>\r\n"), .relay])
        #expect(gate.authenticatedUser == nil)
        let taken = gate.takeRelayGuard()
        var relayGuard = try! #require(taken)
        #expect(text(relayGuard.fromBackend(Array("250 ok\r\n250 ok\r\n".utf8)[...]).toClient)
                == "250 ok\r\n" + relayDenied("b@evil.net") + "250 ok\r\n")
    }

    @Test func withoutLocalDomainsTheGateStillRequiresAUTH() {
        var gate = gate(rules: SMTPRelayRules(authenticationRequired: true))
        #expect(gate.client("MAIL FROM:<x@remote.net>\r\n") == [toClient("530 5.7.0 Authentication required\r\n")])
    }

    @Test func trustedClientRelaysWithoutAUTH() {
        var gate = gate(rules: SMTPRelayRules(authenticationRequired: true, localDomains: local), trusted: true)
        #expect(gate.client("MAIL FROM:<x@example.org>\r\nRCPT TO:<b@evil.net>\r\n")
                == [toBackend("MAIL FROM:<x@example.org>\r\n"), toBackend("RCPT TO:<b@evil.net>\r\n"), .relay])
    }

    @Test func authenticatedClientRelaysAnywhereUnderItsSenderMap() throws {
        let map = try SenderLoginMap(text: "alice alice@example.org\n")
        var gate = gate(rules: SMTPRelayRules(authenticationRequired: true, localDomains: local, senderLogins: map))
        let plain = Base64.encode(Array("\0alice\0secret".utf8))
        #expect(gate.client("AUTH PLAIN \(plain)\r\nMAIL FROM:<bob@example.org>\r\nRCPT TO:<b@evil.net>\r\n")
                == [toClient("235 2.7.0 Authentication successful\r\n"), toBackend("RCPT TO:<b@evil.net>\r\n"),
                    toClient("553 5.7.1 <bob@example.org>: Sender address rejected: not owned by user alice\r\n"),
                    .relay])
    }

    // MARK: starttls = optional

    static let greeting = "220 mx.example.org ESMTP\r\n"

    func optionalDialogue(_ policy: SMTPTransactionPolicy?) -> SMTPStartTLSDialogue {
        var dialogue = SMTPStartTLSDialogue(rules: SMTPStartTLSRules(plaintextPolicy: policy))
        _ = dialogue.receiveFromBackend(Array(Self.greeting.utf8)[...])
        return dialogue
    }

    @Test func plaintextClientSendsLocalMailAfterItsEHLOReply() {
        var dialogue = optionalDialogue(SMTPTransactionPolicy(recipients: local))
        let first = dialogue.receiveFromClient(s("EHLO c\r\nAUTH PLAIN x\r\nMAIL FROM:<x@remote.net>\r\nRCPT TO:<b@evil.net>\r\n"))
        #expect(first == [toBackend("EHLO c\r\n")])
        // AUTH waits for the EHLO reply, then gets 530; the relay starts with the MAIL line, RCPT refused in order.
        let second = dialogue.receiveFromBackend(s("250-mx\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n"))
        #expect(second == [toClient("250-mx\r\n250-CHUNKING\r\n250 STARTTLS\r\n"),
                           toClient("530 5.7.0 Must issue a STARTTLS command first\r\n"),
                           toBackend("MAIL FROM:<x@remote.net>\r\n"), .relay])
        #expect(dialogue.skipsLaterStages)
        let taken = dialogue.takeRelayFilter()
        var filter = try! #require(taken)
        #expect(text(filter.filterBackendBytes(s("250 ok\r\n")).toClient) == "250 ok\r\n" + relayDenied("b@evil.net"))
    }

    @Test func startTLSStaysInjectionProofWhenOptional() {
        var dialogue = optionalDialogue(SMTPTransactionPolicy(recipients: local))
        #expect(dialogue.receiveFromClient(s("STARTTLS\r\nMAIL FROM:<x@remote.net>\r\n"))
                == [toClient("220 2.0.0 Ready to start TLS\r\n"), .startTLS])
        #expect(dialogue.tlsEstablished() == [.relay])
        #expect(!dialogue.skipsLaterStages)
    }

    @Test func withoutAPlaintextPolicyMailNeedsTLS() {
        var dialogue = optionalDialogue(nil)
        #expect(dialogue.receiveFromClient(s("MAIL FROM:<x@remote.net>\r\n"))
                == [toClient("530 5.7.0 Must issue a STARTTLS command first\r\n")])
    }
}
