import Testing
@testable import MailTunnelProtocols

/// The gate's hand-over: it fails closed with `421 4.3.0`, hides the backend's trust extensions, and hands the
/// relay guard what the backend offered.
@Suite struct SMTPAuthGateHandoverTests {
    let unavailable = toClient("421 4.3.0 Mail service temporarily unavailable, try again later\r\n")

    func gate(xclient: Bool) -> SMTPAuthGateDialogue {
        SMTPAuthGateDialogue(mode: .sasl, authenticator: FakeAuthenticator(),
                             client: SocketEndpoint(address: .v4(192, 0, 2, 55), port: 40000),
                             certificateIdentity: nil, xclient: xclient)
    }

    @Test func greetingOtherThan220WithXCLIENTGives421() {
        var g = gate(xclient: true)
        #expect(g.client("EHLO early\r\n") == [])
        #expect(g.backend("554 5.3.2 not now\r\n") == [unavailable, .close(reason: "backend greeting was 554, not 220")])
        #expect(g.client("MAIL FROM:<a@b>\r\n") == [])
    }

    @Test func refusedReplayedEHLOGives421() {
        var g = gate(xclient: true)
        _ = g.backend("220 hi\r\n")
        _ = g.client("EHLO c\r\n")
        _ = g.backend("250 b\r\n")
        _ = g.client("AUTH PLAIN \(plainAlice)\r\nMAIL FROM:<a@b>\r\n")
        #expect(g.backend("220 fresh\r\n") == [toBackend("EHLO c\r\n")])
        let actions = g.backend("421 4.7.0 go away\r\n")
        #expect(actions.first == unavailable && actions.count == 2 && !sendsToBackend(actions))
    }

    @Test func ehloRewriteHidesTrustExtensions() {
        var g = gate(xclient: false)
        _ = g.backend("220 hi\r\n")
        _ = g.client("EHLO c\r\n")
        let actions = g.backend("250-b\r\n250-XFORWARD NAME ADDR\r\n250-CHUNKING\r\n250-xclient ADDR\r\n250 XCLIENT LOGIN\r\n")
        #expect(actions == [toClient("250-b\r\n250-CHUNKING\r\n250 AUTH PLAIN LOGIN\r\n")])
    }

    /// After AUTH the client pipelines a BDAT whose chunk carries XCLIENT: it reaches the backend only when the
    /// replayed EHLO reply offered CHUNKING.
    @Test(arguments: [false, true])
    func theGuardStartsWithTheReplayedEHLOReply(chunking: Bool) {
        var g = gate(xclient: true)
        _ = g.backend("220 hi\r\n")
        _ = g.client("EHLO c\r\n")
        _ = g.backend("250-b\r\n250 CHUNKING\r\n")  // the first reply offered it; only the replayed one counts
        let chunk = "XCLIENT LOGIN=mallory\r\n"
        _ = g.client("AUTH PLAIN \(plainAlice)\r\nBDAT \(chunk.utf8.count) LAST\r\n\(chunk)NOOP\r\n")
        #expect(g.backend("220 fresh\r\n") == [toBackend("EHLO c\r\n")])
        let replayed = chunking ? "250-b\r\n250-XCLIENT ADDR\r\n250 CHUNKING\r\n" : "250-b\r\n250 XCLIENT ADDR\r\n"
        let actions = g.backend(replayed)
        let success = toClient("235 2.7.0 Authentication successful\r\n")
        if chunking {
            #expect(actions == [success, toBackend("BDAT \(chunk.utf8.count) LAST\r\n\(chunk)NOOP\r\n"), .relay])
        } else {
            #expect(actions == [success, toBackend("NOOP\r\n"), .sendToClient(SMTPRelayGuard.bdatRefusal), .relay])
        }
        #expect(g.takeRelayGuard()?.extensions.chunking == chunking)
    }

    @Test func withoutXCLIENTTheGuardKeepsTheClientsEHLOReply() {
        var g = gate(xclient: false)
        _ = g.backend("220 hi\r\n")
        _ = g.client("EHLO c\r\n")
        _ = g.backend("250-b\r\n250 CHUNKING\r\n")
        #expect(g.client("AUTH PLAIN \(plainAlice)\r\n") == [toClient("235 2.7.0 Authentication successful\r\n"), .relay])
        #expect(g.takeRelayGuard()?.extensions.chunking == true)

        var helo = gate(xclient: false)
        _ = helo.backend("220 hi\r\n")
        _ = helo.client("EHLO c\r\n")
        _ = helo.backend("250-b\r\n250 CHUNKING\r\n")
        _ = helo.client("HELO c\r\n")
        _ = helo.backend("250 b\r\n")
        _ = helo.client("AUTH PLAIN \(plainAlice)\r\n")
        #expect(helo.takeRelayGuard()?.extensions.chunking == false)
    }
}
