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

    @Test func greetingOtherThan220FailsClosed() {
        // Relaying would hand the client to a backend that takes it for mailtunnel: 421 and close instead, and
        // nothing the client sent early is ever passed on.
        for greeting in ["554 5.3.2 go away\r\n", "421 4.3.2 busy\r\n", "220-almost\r\n250 no\r\n"] {
            var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: false)
            #expect(dialogue.receiveFromClient(Array("EHLO early\r\nMAIL FROM:<a@b>\r\n".utf8)[...]) == [])
            let actions = dialogue.receiveFromBackend(Array(greeting.utf8)[...])
            #expect(actions.first == toClient("421 4.3.0 Mail service temporarily unavailable\r\n"), "\(greeting)")
            #expect(actions.count == 2 && !sendsToBackend(actions) && !actions.contains(.relay), "\(greeting)")
            if case .close = actions.last {} else { Issue.record("no close after \(greeting)") }
            #expect(dialogue.takeRelayGuard() == nil)
        }
    }

    @Test func heldBDATWithoutEHLOIsAnsweredByTheGuard() {
        var dialogue = XCLIENTHandoverDialogue(commands: [xclient], greeted: true)
        _ = dialogue.tlsEstablished()
        _ = dialogue.receiveFromClient(Array("BDAT 20\r\nXCLIENT LOGIN=mall\r\nNOOP\r\n".utf8)[...])
        let actions = dialogue.receiveFromBackend(Array("220 ok\r\n".utf8)[...])
        #expect(actions == [toBackend("NOOP\r\n"), .sendToClient(SMTPRelayGuard.bdatRefusal), .relay])
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
