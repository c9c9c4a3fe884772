import Testing
@testable import MailTunnelProtocols

@Suite struct XCLIENTHandoverTests {
    let xclient = Array("XCLIENT ADDR=192.0.2.7 PORT=4000\r\n".utf8)

    @Test func implicitTLSSwallowsFirstGreetingAndShowsTheFreshOne() {
        var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: false)
        #expect(dialogue.receiveFromBackend(Array("220 old.example ESMTP\r\n".utf8)[...]) == [.sendToBackend(xclient)])
        #expect(dialogue.receiveFromClient(Array("EHLO early\r\n".utf8)[...]) == [])
        let actions = dialogue.receiveFromBackend(Array("220 new.example ESMTP\r\n".utf8)[...])
        #expect(actions == [toClient("220 new.example ESMTP\r\n"), toBackend("EHLO early\r\n"), .relay])
        #expect(dialogue.takeRelayGuard() != nil)
    }

    @Test func afterSTARTTLSTheFreshGreetingIsSwallowed() {
        var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: true)
        #expect(dialogue.tlsEstablished() == [.sendToBackend(xclient)])
        #expect(dialogue.receiveFromBackend(Array("220 new.example ESMTP\r\n".utf8)[...]) == [.relay])
    }

    @Test func heldXCLIENTFromTheClientIsDeniedByTheGuard() {
        var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: true)
        _ = dialogue.tlsEstablished()
        _ = dialogue.receiveFromClient(Array("XCLIENT LOGIN=mallory\r\n".utf8)[...])
        let actions = dialogue.receiveFromBackend(Array("220 ok\r\n".utf8)[...])
        #expect(actions == [.sendToBackend(SMTPRelayGuard.deniedCommand), .relay])
    }

    @Test func refusedXCLIENTClosesWithTemporaryError() {
        var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: false)
        _ = dialogue.receiveFromBackend(Array("220 x ESMTP\r\n".utf8)[...])
        let actions = dialogue.receiveFromBackend(Array("550 5.7.0 Error: insufficient authorization\r\n".utf8)[...])
        #expect(actions == [toClient("421 4.3.0 Mail service temporarily unavailable\r\n"),
                            .close(reason: "backend refused XCLIENT: 550 5.7.0 Error: insufficient authorization")])
    }

    @Test func backendRefusingServiceIsPassedOn() {
        var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: false)
        let actions = dialogue.receiveFromBackend(Array("554 5.3.2 go away\r\n".utf8)[...])
        #expect(actions == [toClient("554 5.3.2 go away\r\n"), .relay])
    }
}

@Suite struct XCLIENTHandoverPlainOkTests {
    @Test func a250ReplyKeepsTheOriginalGreeting() {
        let xclient = Array("XCLIENT ADDR=192.0.2.7\r\n".utf8)
        var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: false)
        _ = dialogue.receiveFromBackend(Array("220 sink ESMTP\r\n".utf8)[...])
        #expect(dialogue.receiveFromBackend(Array("250 2.0.0 Ok\r\n".utf8)[...]) == [toClient("220 sink ESMTP\r\n"), .relay])
    }
}
