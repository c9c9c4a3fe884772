import Testing
@testable import MailTunnelProtocols

/// A scripted authenticator: PLAIN and LOGIN against alice/secret, plus mechanisms that fail in set ways.
final class FakeAuthenticator: SMTPAuthenticator {
    var offered = ["PLAIN", "LOGIN"]
    private(set) var calls: [String] = []
    private var loginUser: [UInt8]?

    func mechanisms() -> [String] { offered }

    func start(mechanism: String, initialResponse: [UInt8]?) -> SMTPAuthStep {
        calls.append("start \(mechanism) \(initialResponse.map { String(decoding: $0, as: UTF8.self) } ?? "nil")")
        switch mechanism {
        case "PLAIN":
            guard let initialResponse else { return .challenge([]) }
            return checkPlain(initialResponse)
        case "LOGIN":
            loginUser = nil
            guard let initialResponse else { return .challenge(Array("Username:".utf8)) }
            loginUser = initialResponse
            return .challenge(Array("Password:".utf8))
        case "X-TEMP": return .failure(.temporary(detail: "sasldb unreadable"))
        case "X-WEAK": return .failure(.mechanismTooWeak)
        case "X-DATA": return .success(user: "carol", additionalData: Array("rspauth=1".utf8))
        default: return .failure(.unsupportedMechanism)
        }
    }

    func step(response: [UInt8]) -> SMTPAuthStep {
        calls.append("step \(String(decoding: response, as: UTF8.self))")
        if let user = loginUser {
            return user == Array("alice".utf8) && response == Array("secret".utf8)
                ? .success(user: "alice") : .failure(.invalidCredentials)
        }
        if calls.first?.hasPrefix("start LOGIN") == true {
            loginUser = response
            return .challenge(Array("Password:".utf8))
        }
        return checkPlain(response)
    }

    private func checkPlain(_ message: [UInt8]) -> SMTPAuthStep {
        message == Array("\0alice\0secret".utf8) ? .success(user: "alice") : .failure(.invalidCredentials)
    }
}

extension String {
    /// The rewritten EHLO reply with another AUTH line (the mechanism list comes from the authenticator).
    func replacingAUTH(_ line: String) -> String {
        let old = "250 AUTH PLAIN LOGIN\r\n"
        precondition(hasSuffix(old))
        return String(decoding: Array(utf8).dropLast(old.utf8.count), as: UTF8.self) + "250 \(line)\r\n"
    }
}


extension SMTPAuthGateDialogue {
    mutating func client(_ text: String) -> [DialogueAction] { receiveFromClient(Array(text.utf8)[...]) }
    mutating func backend(_ text: String) -> [DialogueAction] { receiveFromBackend(Array(text.utf8)[...]) }
}

let plainAlice = Base64.encode(Array("\0alice\0secret".utf8))   // AGFsaWNlAHNlY3JldA==
let backendEHLO = "250-backend.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n"
    + "250-AUTH=PLAIN LOGIN\r\n250-STARTTLS\r\n250-XCLIENT ADDR NAME LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
let rewrittenEHLO = "250-backend.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n"

@Suite struct SMTPAuthGateTests {
    let clientEndpoint = SocketEndpoint(address: .v4(192, 0, 2, 55), port: 40000)

    func saslGate(xclient: Bool = false, limit: Int = 3, auth: FakeAuthenticator = FakeAuthenticator()) -> SMTPAuthGateDialogue {
        SMTPAuthGateDialogue(mode: .sasl, authenticator: auth, client: clientEndpoint,
                             certificateIdentity: nil, xclient: xclient, failureLimit: limit)
    }

    /// Greeting and EHLO done, as every AUTH test needs.
    func greeted(_ gate: inout SMTPAuthGateDialogue) {
        #expect(gate.backend("220 backend.example.org ESMTP\r\n") == [toClient("220 backend.example.org ESMTP\r\n")])
        #expect(gate.client("EHLO client.example\r\n") == [toBackend("EHLO client.example\r\n")])
        #expect(gate.backend(backendEHLO) == [toClient(rewrittenEHLO)])
    }

    @Test func plainWithInitialResponseWithoutXCLIENT() {
        var gate = saslGate()
        greeted(&gate)
        #expect(gate.client("MAIL FROM:<a@example.org>\r\n") == [toClient("530 5.7.0 Authentication required\r\n")])
        #expect(gate.client("AUTH PLAIN \(plainAlice)\r\n")
                == [toClient("235 2.7.0 Authentication successful\r\n"), .relay])
        #expect(gate.authenticatedUser == "alice")
        #expect(gate.client("MAIL FROM:<a@example.org>\r\n") == [])   // relayed by the engine now, not the gate
    }

    @Test func plainWithEmptyChallenge() {
        let auth = FakeAuthenticator()
        var gate = saslGate(auth: auth)
        greeted(&gate)
        #expect(gate.client("AUTH plain\r\n") == [toClient("334 \r\n")])
        #expect(gate.client("\(plainAlice)\r\n") == [toClient("235 2.7.0 Authentication successful\r\n"), .relay])
        #expect(auth.calls == ["start PLAIN nil", "step \0alice\0secret"])
    }

    @Test func equalsSignIsAnEmptyInitialResponse() {
        let auth = FakeAuthenticator()
        var gate = saslGate(auth: auth)
        greeted(&gate)
        #expect(gate.client("AUTH PLAIN =\r\n") == [toClient("535 5.7.8 Authentication credentials invalid\r\n")])
        #expect(auth.calls == ["start PLAIN "])
    }

    @Test func loginTwoSteps() {
        var gate = saslGate()
        greeted(&gate)
        #expect(gate.client("AUTH LOGIN\r\n") == [toClient("334 VXNlcm5hbWU6\r\n")])
        #expect(gate.client("YWxpY2U=\r\n") == [toClient("334 UGFzc3dvcmQ6\r\n")])
        #expect(gate.client("c2VjcmV0\r\n") == [toClient("235 2.7.0 Authentication successful\r\n"), .relay])
    }

    @Test func cancelAndBase64Errors() {
        var gate = saslGate()
        greeted(&gate)
        #expect(gate.client("AUTH LOGIN\r\n") == [toClient("334 VXNlcm5hbWU6\r\n")])
        #expect(gate.client("*\r\n") == [toClient("501 5.7.0 Authentication aborted\r\n")])
        #expect(gate.client("AUTH PLAIN not*base64\r\n") == [toClient("501 5.5.2 Cannot decode response\r\n")])
        #expect(gate.client("AUTH LOGIN\r\n") == [toClient("334 VXNlcm5hbWU6\r\n")])
        #expect(gate.client("YWxpY2U\r\n") == [toClient("501 5.5.2 Cannot decode response\r\n")])
        #expect(gate.failures == 2)   // cancel does not count, undecodable responses do
    }

    @Test func failureRepliesPerKind() {
        let auth = FakeAuthenticator()
        auth.offered = ["PLAIN", "X-TEMP", "X-WEAK"]
        var gate = saslGate(auth: auth)
        _ = gate.backend("220 hi\r\n")
        _ = gate.client("EHLO c\r\n")
        #expect(gate.backend(backendEHLO) == [toClient(rewrittenEHLO.replacingAUTH("AUTH PLAIN X-TEMP X-WEAK"))])
        #expect(gate.client("AUTH X-TEMP\r\n") == [toClient("454 4.7.0 Temporary authentication failure\r\n")])
        #expect(gate.client("AUTH X-WEAK\r\n") == [toClient("538 5.7.11 Encryption required for requested authentication mechanism\r\n")])
        #expect(gate.client("AUTH CRAM-MD5\r\n") == [toClient("504 5.5.4 Unrecognized authentication type\r\n")])
        #expect(gate.client("AUTH\r\n") == [toClient("501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n")])
        #expect(gate.client("AUTH PLAIN a b\r\n") == [toClient("501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n")])
        #expect(gate.failures == 0)
    }

    @Test func failureLimitClosesWithTheReason() {
        var gate = saslGate(limit: 3)
        greeted(&gate)
        let wrong = Base64.encode(Array("\0alice\0wrong".utf8))
        let fail = toClient("535 5.7.8 Authentication credentials invalid\r\n")
        #expect(gate.client("AUTH PLAIN \(wrong)\r\n") == [fail])
        #expect(gate.client("AUTH PLAIN \(wrong)\r\n") == [fail])
        #expect(gate.client("AUTH PLAIN \(wrong)\r\nAUTH PLAIN \(plainAlice)\r\n") == [
            fail, toClient("421 4.7.0 Too many failed authentication attempts\r\n"),
            .close(reason: "too many failed authentication attempts (3), last: 535 5.7.8 Authentication credentials invalid"),
        ])
        #expect(gate.authenticatedUser == nil)
        #expect(gate.client("AUTH PLAIN \(plainAlice)\r\n") == [])   // closed: nothing more is answered
    }

    @Test func configurableLimitOfOne() {
        var gate = saslGate(limit: 1)
        greeted(&gate)
        let actions = gate.client("AUTH PLAIN \(Base64.encode(Array("\0x\0y".utf8)))\r\n")
        #expect(actions.count == 3)
        #expect(actions.last == .close(reason: "too many failed authentication attempts (1), last: 535 5.7.8 Authentication credentials invalid"))
    }

    @Test func preAuthCommands() {
        var gate = saslGate()
        #expect(gate.client("EHLO early\r\n") == [])   // held until the backend greets
        #expect(gate.backend("220-backend.example.org ESMTP\r\n220 second line\r\n")
                == [toClient("220-backend.example.org ESMTP\r\n220 second line\r\n"), toBackend("EHLO early\r\n")])
        #expect(gate.backend(backendEHLO) == [toClient(rewrittenEHLO)])
        #expect(gate.client("NOOP\r\nRSET\r\nSTARTTLS\r\nVRFY root\r\nRCPT TO:<x@y>\r\nDATA\r\n\r\n") == [
            toClient("250 2.0.0 Ok\r\n"), toClient("250 2.0.0 Ok\r\n"), toClient("554 5.5.1 Error: TLS already active\r\n"),
            toClient("530 5.7.0 Authentication required\r\n"), toClient("530 5.7.0 Authentication required\r\n"),
            toClient("530 5.7.0 Authentication required\r\n"), toClient("500 5.5.2 Error: bad syntax\r\n"),
        ])
        #expect(gate.client("HELO plain.example\r\n") == [toBackend("HELO plain.example\r\n")])
        #expect(gate.backend("250 backend.example.org\r\n") == [toClient("250 backend.example.org\r\n")])
        #expect(gate.client("QUIT\r\n") == [toClient("221 2.0.0 Bye\r\n"), .close(reason: "client quit before authenticating")])
    }

    @Test func authBeforeEHLO() {
        var gate = saslGate()
        _ = gate.backend("220 hi\r\n")
        #expect(gate.client("AUTH PLAIN \(plainAlice)\r\n") == [toClient("503 5.5.1 Error: send EHLO first\r\n")])
        #expect(gate.client("EHLO\r\n") == [toClient("501 5.5.4 Syntax: EHLO hostname\r\n")])
    }

    @Test func backendEHLOFailureIsRelayedVerbatim() {
        var gate = saslGate()
        _ = gate.backend("220 hi\r\n")
        _ = gate.client("EHLO x\r\n")
        #expect(gate.backend("550 5.7.1 go away\r\n") == [toClient("550 5.7.1 go away\r\n")])
        #expect(gate.client("AUTH PLAIN \(plainAlice)\r\n") == [toClient("503 5.5.1 Error: send EHLO first\r\n")])
    }

    @Test func pipelinedCommandsAreAnsweredInOrderNotInjected() {
        var gate = saslGate()
        _ = gate.backend("220 hi\r\n")
        // Everything at once: only EHLO goes to the backend; the rest waits for its reply.
        #expect(gate.client("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nAUTH PLAIN \(plainAlice)\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
                == [toBackend("EHLO c\r\n")])
        #expect(gate.backend("250 backend\r\n") == [
            toClient("250-backend\r\n250 AUTH PLAIN LOGIN\r\n"),
            toClient("530 5.7.0 Authentication required\r\n"), toClient("530 5.7.0 Authentication required\r\n"),
            toClient("235 2.7.0 Authentication successful\r\n"),
            toBackend("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"), .relay,
        ])
    }

    @Test func secondPipelinedAUTHGets503() {
        var gate = saslGate()
        greeted(&gate)
        #expect(gate.client("AUTH PLAIN \(plainAlice)\r\nAUTH PLAIN \(plainAlice)\r\nMAIL FROM:<>\r\n") == [
            toClient("235 2.7.0 Authentication successful\r\n"),
            toClient("503 5.5.1 Error: already authenticated\r\n"),
            toBackend("MAIL FROM:<>\r\n"), .relay,
        ])
    }

    @Test func xclientHandOver() {
        var gate = saslGate(xclient: true)
        greeted(&gate)
        #expect(gate.client("AUTH PLAIN \(plainAlice)\r\nMAIL FROM:<a@b>\r\n")
                == [toBackend("XCLIENT ADDR=192.0.2.55 PORT=40000 NAME=[UNAVAILABLE] LOGIN=alice\r\n")])
        // The backend's 220 after XCLIENT is not shown to the client; the client's EHLO is replayed.
        #expect(gate.backend("220 backend.example.org ESMTP\r\n") == [toBackend("EHLO client.example\r\n")])
        #expect(gate.backend(backendEHLO) == [
            toClient("235 2.7.0 Authentication successful\r\n"), toBackend("MAIL FROM:<a@b>\r\n"), .relay,
        ])
    }

    @Test func xclientRejected() {
        var gate = saslGate(xclient: true)
        greeted(&gate)
        _ = gate.client("AUTH PLAIN \(plainAlice)\r\n")
        #expect(gate.backend("550 5.7.0 Error: insufficient authorization\r\n") == [
            toClient("421 4.3.0 Mail service temporarily unavailable, try again later\r\n"),
            .close(reason: "backend rejected XCLIENT: 550 5.7.0 Error: insufficient authorization"),
        ])
    }

    @Test func xclientSplitAcrossCommands() {
        let auth = FakeAuthenticator()
        var gate = SMTPAuthGateDialogue(mode: .certificate, authenticator: nil,
                                        client: SocketEndpoint(address: IPAddress("2001:db8::9")!, port: 1),
                                        certificateIdentity: String(repeating: "c", count: 470), xclient: true)
        _ = auth
        _ = gate.backend("220 hi\r\n")
        _ = gate.client("EHLO c\r\n")
        #expect(gate.backend("250 backend\r\n") == [toClient("250-backend\r\n250 AUTH EXTERNAL\r\n")])
        #expect(gate.client("MAIL FROM:<>\r\n") == [toBackend("XCLIENT ADDR=IPV6:2001:db8::9 PORT=1 NAME=[UNAVAILABLE]\r\n")])
        #expect(gate.backend("220 again\r\n") == [toBackend("XCLIENT LOGIN=\(String(repeating: "c", count: 470))\r\n")])
        #expect(gate.backend("220 again\r\n") == [toBackend("EHLO c\r\n")])
        #expect(gate.backend("250 backend\r\n") == [toBackend("MAIL FROM:<>\r\n"), .relay])
    }

    @Test func successDataIsAFinalChallenge() {
        let auth = FakeAuthenticator()
        auth.offered = ["X-DATA"]
        var gate = saslGate(auth: auth)
        _ = gate.backend("220 hi\r\n")
        _ = gate.client("EHLO c\r\n")
        _ = gate.backend("250 b\r\n")
        #expect(gate.client("AUTH X-DATA\r\n") == [toClient("334 cnNwYXV0aD0x\r\n")])
        #expect(gate.client("\r\n") == [toClient("235 2.7.0 Authentication successful\r\n"), .relay])
        #expect(gate.authenticatedUser == "carol")
    }

    @Test func longLines() {
        var gate = saslGate()
        greeted(&gate)
        let ok = "NOOP " + String(repeating: "x", count: 512 - 7) + "\r\n"
        #expect(ok.utf8.count == 512)
        #expect(gate.client(ok) == [toClient("250 2.0.0 Ok\r\n")])
        #expect(gate.client("NOOP " + String(repeating: "x", count: 512 - 6) + "\r\n") == [
            toClient("500 5.5.6 Line too long\r\n"), .close(reason: "client line longer than 512 bytes in the SMTP auth gate"),
        ])
        // A SASL response may be longer than a command line.
        var sasl = saslGate()
        greeted(&sasl)
        _ = sasl.client("AUTH PLAIN\r\n")
        #expect(sasl.client(String(repeating: "QUFB", count: 1000) + "\r\n") == [toClient("535 5.7.8 Authentication credentials invalid\r\n")])
    }

    @Test func backendTroubles() {
        var refused = saslGate()
        #expect(refused.backend("554 5.3.2 not now\r\n") == [toClient("554 5.3.2 not now\r\n"), .close(reason: "backend greeting was 554, not 220")])
        var closed = saslGate()
        _ = closed.backend("220 hi\r\n")
        #expect(closed.backendClosed() == [toClient("421 4.3.0 Mail service temporarily unavailable, try again later\r\n"),
                                           .close(reason: "backend closed the connection during the SMTP auth gate")])
        var garbage = saslGate()
        #expect(garbage.backend("HTTP/1.1 400\r\n") == [toClient("421 4.3.0 Mail service temporarily unavailable, try again later\r\n"),
                                                       .close(reason: "backend sent a malformed reply: malformed reply line")])
        var unsolicited = saslGate()
        _ = unsolicited.backend("220 hi\r\n")
        #expect(unsolicited.backend("421 4.4.2 timeout\r\n") == [toClient("421 4.4.2 timeout\r\n"), .close(reason: "backend sent an unsolicited 421 reply")])
    }

    @Test func floodingWhileTheBackendIsBusyIsCut() {
        var gate = saslGate()
        #expect(gate.client(String(repeating: "NOOP\r\n", count: 5461)) == [])   // 32766 bytes, held before the greeting
        #expect(gate.client("NOOP\r\n") == [toClient("421 4.7.0 Too much pipelined input\r\n"),
            .close(reason: "client sent more than 32768 bytes ahead of the SMTP auth gate")])
    }

    @Test func byteByByteDelivery() {
        var gate = saslGate()
        var actions: [DialogueAction] = []
        for byte in "220 hi\r\n".utf8 { actions += gate.receiveFromBackend([byte][...]) }
        for byte in "EHLO c\r\n".utf8 { actions += gate.receiveFromClient([byte][...]) }
        for byte in "250 b\r\n".utf8 { actions += gate.receiveFromBackend([byte][...]) }
        for byte in "AUTH PLAIN \(plainAlice)\r\n".utf8 { actions += gate.receiveFromClient([byte][...]) }
        #expect(actions == [toClient("220 hi\r\n"), toBackend("EHLO c\r\n"), toClient("250-b\r\n250 AUTH PLAIN LOGIN\r\n"),
                            toClient("235 2.7.0 Authentication successful\r\n"), .relay])
    }
}

@Suite struct SMTPAuthGateCertificateTests {
    func gate(identity: String?, xclient: Bool = false) -> SMTPAuthGateDialogue {
        SMTPAuthGateDialogue(mode: .certificate, authenticator: nil, client: SocketEndpoint(address: .v4(10, 1, 1, 1), port: 2525),
                             certificateIdentity: identity, xclient: xclient)
    }

    @Test func verifiedIdentityNeedsNoAUTH() {
        var g = gate(identity: "alice@example.org")
        #expect(g.authenticatedUser == "alice@example.org")
        _ = g.backend("220 hi\r\n")
        #expect(g.client("EHLO c\r\n") == [toBackend("EHLO c\r\n")])
        #expect(g.backend("250-b\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n") == [toClient("250-b\r\n250 AUTH EXTERNAL\r\n")])
        #expect(g.client("MAIL FROM:<alice@example.org>\r\nRCPT TO:<x@y>\r\n")
                == [toBackend("MAIL FROM:<alice@example.org>\r\n"), toBackend("RCPT TO:<x@y>\r\n"), .relay])
    }

    @Test func verifiedIdentityWithXCLIENT() {
        var g = gate(identity: "alice@example.org", xclient: true)
        _ = g.backend("220 hi\r\n")
        _ = g.client("EHLO c\r\n")
        _ = g.backend("250 b\r\n")
        #expect(g.client("MAIL FROM:<>\r\n") == [toBackend("XCLIENT ADDR=10.1.1.1 PORT=2525 NAME=[UNAVAILABLE] LOGIN=alice@example.org\r\n")])
        #expect(g.backend("220 hi\r\n") == [toBackend("EHLO c\r\n")])
        #expect(g.backend("250 b\r\n") == [toBackend("MAIL FROM:<>\r\n"), .relay])
    }

    @Test func externalMechanism() {
        var g = gate(identity: "alice@example.org")
        _ = g.backend("220 hi\r\n")
        _ = g.client("EHLO c\r\n")
        _ = g.backend("250 b\r\n")
        #expect(g.client("AUTH EXTERNAL \(Base64.encode(Array("bob".utf8)))\r\n") == [toClient("535 5.7.8 Authentication credentials invalid\r\n")])
        #expect(g.client("AUTH EXTERNAL\r\n") == [toClient("334 \r\n")])
        #expect(g.client("=\r\n") == [toClient("501 5.5.2 Cannot decode response\r\n")])   // "=" only in the AUTH line
        #expect(g.client("AUTH EXTERNAL =\r\n") == [toClient("235 2.7.0 Authentication successful\r\n"), .relay])
    }

    @Test func noIdentityMeansNoWayIn() {
        var g = gate(identity: nil)
        #expect(g.authenticatedUser == nil)
        _ = g.backend("220 hi\r\n")
        _ = g.client("EHLO c\r\n")
        #expect(g.backend("250-b\r\n250 AUTH PLAIN\r\n") == [toClient("250 b\r\n")])
        #expect(g.client("MAIL FROM:<>\r\n") == [toClient("530 5.7.0 Authentication required\r\n")])
        #expect(g.client("AUTH EXTERNAL =\r\n") == [toClient("504 5.5.4 Unrecognized authentication type\r\n")])
    }
}
