import Testing
@testable import MailTunnelProtocols

/// `mayAuthenticate` decides which gate input leaves the event loop for a worker: it must be true whenever the
/// input does reach the authenticator (else a slow check blocks a loop), and false for ordinary commands (else
/// they queue behind other connections' checks).
@Suite struct SMTPAuthGateMayAuthenticateTests {
    private func gate(_ auth: FakeAuthenticator) -> SMTPAuthGateDialogue {
        SMTPAuthGateDialogue(mode: .sasl, authenticator: auth, client: SocketEndpoint(address: .v4(192, 0, 2, 1), port: 1),
                             certificateIdentity: nil, xclient: false, failureLimit: 3)
    }

    @Test func ordinaryCommandsStayOnTheLoop() {
        var g = gate(FakeAuthenticator())
        _ = g.backend("220 backend ESMTP\r\n")
        #expect(!g.mayAuthenticate(clientBytes: s("EHLO client.example\r\n")))
        _ = g.client("EHLO client.example\r\n")
        #expect(!g.mayAuthenticate())
        _ = g.backend("250 backend\r\n")
        #expect(!g.mayAuthenticate(clientBytes: s("NOOP\r\n")))
        #expect(!g.mayAuthenticate(clientBytes: s("MAIL FROM:<a@example.org>\r\n")))
    }

    @Test func authLinesAndExchangesLeaveIt() {
        var g = gate(FakeAuthenticator())
        _ = g.backend("220 backend ESMTP\r\n")
        _ = g.client("EHLO client.example\r\n")
        _ = g.backend("250 backend\r\n")
        #expect(g.mayAuthenticate(clientBytes: s("AUTH PLAIN \(plainAlice)\r\n")))
        #expect(g.mayAuthenticate(clientBytes: s("auth login\r\n")))
        _ = g.client("AU")                                  // split across reads
        #expect(g.mayAuthenticate(clientBytes: s("TH PLAIN\r\n")))
        _ = g.client("TH PLAIN\r\n")
        #expect(g.mayAuthenticate(clientBytes: s("\r\n")), "a SASL response is read by libsasl2")
    }

    @Test func pipelinedAuthIsReleasedByTheBackendsReply() {
        let auth = FakeAuthenticator()
        var g = gate(auth)
        _ = g.backend("220 backend ESMTP\r\n")
        _ = g.client("EHLO client.example\r\nAUTH PLAIN \(plainAlice)\r\n")   // AUTH waits for the EHLO reply
        #expect(auth.calls.isEmpty)
        #expect(g.mayAuthenticate(), "the backend's reply will release the buffered AUTH line")
        _ = g.backend("250 backend\r\n")
        #expect(auth.calls == ["start PLAIN \0alice\0secret"])
    }

    /// Over a pipelined session cut at every byte: each call into the authenticator was announced.
    @Test func soundAtEveryCut() {
        let text = "EHLO c.example\r\nNOOP\r\nAUTH LOGIN\r\n\(Base64.encode(Array("alice".utf8)))\r\n"
            + "\(Base64.encode(Array("wrong".utf8)))\r\nauth plain \(plainAlice)\r\n"
        let script = Array(text.utf8)
        for cut in 1..<script.count {
            let auth = FakeAuthenticator()
            var g = gate(auth)
            _ = g.backend("220 backend ESMTP\r\n")
            for chunk in [script[..<cut], script[cut...]] {
                let announced = g.mayAuthenticate(clientBytes: chunk)
                let before = auth.calls.count
                let actions = g.receiveFromClient(chunk)
                #expect(auth.calls.count == before || announced, "cut \(cut): client input reached libsasl2 unannounced")
                guard sendsToBackend(actions) else { continue }   // the EHLO: its reply may release AUTH
                let announcedForBackend = g.mayAuthenticate()
                let beforeBackend = auth.calls.count
                _ = g.backend("250 backend\r\n")
                #expect(auth.calls.count == beforeBackend || announcedForBackend,
                        "cut \(cut): a backend reply released AUTH unannounced")
            }
            #expect(auth.calls.count == 4, "cut \(cut): the script's exchanges did not all run: \(auth.calls)")
        }
    }
}
