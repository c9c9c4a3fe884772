import Logging
import MailTunnelProtocols
import MailTunnelSASL
import MailTunnelTLS

/// `auth = sasl|certificate` on SMTP listeners: mailtunnel conducts AUTH itself after TLS, and only an
/// authenticated client reaches the backend's MAIL FROM.
extension Connection {
    var needsGate: Bool { config.protocol == .smtp && config.auth != .none && !gateStarted }
    var needsHandover: Bool { config.protocol == .smtp && config.xclient && config.auth == .none && !handoverStarted }

    /// `xclient = yes` without a gate: the backend learns the client's address before the client's session.
    func startHandover(greeted: Bool) -> Bool {
        handoverStarted = true
        do {
            let commands = try XCLIENT.commands(XCLIENT.attributes(client: clientEndpoint, login: nil))
            dialogue = XCLIENTHandoverDialogue(commands: commands, greeted: greeted)
            enter(.dialogue)
            return true
        } catch {
            refuse("XCLIENT unavailable", reply: Array("421 4.3.0 Mail service temporarily unavailable\r\n".utf8))
            return false
        }
    }

    /// Replaces the current dialogue with the gate; false (and the connection closing) if SASL cannot start.
    func startGate(backendGreeted: Bool) -> Bool {
        gateStarted = true
        var authenticator: (any SMTPAuthenticator)?
        if config.auth == .sasl {
            do {
                let facts = SASLServer.TLSFacts(strength: UInt32(tls?.cipherBits ?? 0), externalIdentity: peer?.loginName)
                authenticator = try SASLServer(
                    service: config.saslService, local: Self.endpoint(Sockets.localAddress(clientFD)),
                    remote: clientEndpoint, tls: facts)
            } catch {
                listener.logger.error("SASL unavailable", metadata: ["listener": "\(config.name)", "error": "\(error)"])
                refuse("SASL unavailable", reply: Array("454 4.7.0 Temporary authentication failure\r\n".utf8))
                return false
            }
        }
        dialogue = SMTPAuthGateDialogue(
            mode: config.auth == .certificate ? .certificate : .sasl, authenticator: authenticator,
            client: clientEndpoint, certificateIdentity: peer?.loginName, xclient: config.xclient,
            backendGreeted: backendGreeted, attemptPolicy: listener.authPolicy(host: clientHost))
        enter(.dialogue)
        return true
    }
}
