import Testing
@testable import MailTunnelProtocols

/// Inputs the libFuzzer targets of Fuzz/ (Scripts/fuzz) stopped on, kept as unit tests.
@Suite struct FuzzFindingsTests {
    /// auth-gate, first 60 s run (crash-b4863d14…): once AUTH succeeds, what the client pipelined behind it reaches
    /// the backend in the same batch as `.relay`, through the relay guard: a command line still incomplete is
    /// passed on as far as it goes (its verb is decided), and a pipelined XCLIENT is replaced by the guard's
    /// denial. The fuzz harness had wrongly required whole EHLO/HELO lines there; the gate was right.
    @Test func bytesPipelinedBehindAUTHGoThroughTheGuardIncompleteLinesIncluded() {
        var gate = SMTPAuthGateDialogue(mode: .sasl, authenticator: FakeAuthenticator(),
                                        client: SocketEndpoint(address: .v4(192, 0, 2, 55), port: 40000),
                                        certificateIdentity: nil, xclient: false)
        _ = gate.backend("220 backend.example.org ESMTP\r\n")
        _ = gate.client("EHLO client.example\r\n")
        _ = gate.backend(backendEHLO)
        let actions = gate.client("AUTH PLAIN \(plainAlice)\r\nXCLIENT ADDR=10.9.9.9\r\nMAIL FROM:<a")
        #expect(actions == [toClient("235 2.7.0 Authentication successful\r\n"),
                            .sendToBackend(SMTPRelayGuard.deniedCommand + b("MAIL FROM:<a")), .relay])
        #expect(gate.takeRelayGuard() != nil)
    }

    /// auth-gate, 20 s run of a fresh-clone suite: `" EHLO c\rvvv…"` (a leading space, a bare CR inside) was
    /// forwarded to the backend as the client wrote it. A backend that ends lines at a bare CR would have read a
    /// second command before authentication. The gate now answers a control byte in EHLO/HELO with 501 and
    /// forwards only a line it wrote itself.
    @Test func ehloWithAControlByteIsRefusedAndOthersAreForwardedCanonical() {
        var gate = SMTPAuthGateDialogue(mode: .sasl, authenticator: FakeAuthenticator(),
                                        client: SocketEndpoint(address: .v4(192, 0, 2, 55), port: 40000),
                                        certificateIdentity: nil, xclient: false)
        _ = gate.backend("220 backend.example.org ESMTP\r\n")
        #expect(gate.client(" EHLO c\rMAIL FROM:<a@example.org>\r\n") == [toClient("501 5.5.4 Syntax: EHLO hostname\r\n")])
        #expect(gate.client("  ehlo   client.example \r\n") == [.sendToBackend(b("ehlo client.example\r\n"))])
    }
}
