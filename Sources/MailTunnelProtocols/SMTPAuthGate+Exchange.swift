/// The gate's AUTH exchange (RFC 4954): base64 both ways, SASL by the `SMTPAuthenticator`, EXTERNAL from the
/// verified certificate, every credential check under the cross-connection `AuthAttemptPolicy`.
extension SMTPAuthGateDialogue {
    // MARK: AUTH exchange

    mutating func handleAUTH(_ arguments: [[UInt8]]) -> [DialogueAction] {
        guard heloLine != nil else { return reply("503 5.5.1 Error: send EHLO first") }
        guard arguments.count == 1 || arguments.count == 2 else { return reply("501 5.5.4 Syntax: AUTH mechanism [initial-response]") }
        let mechanism = String(decoding: arguments[0], as: UTF8.self).uppercased()
        guard mechanisms.contains(mechanism) else { return reply("504 5.5.4 Unrecognized authentication type") }
        return attempt { $0.beginExchange(mechanism, initialArgument: arguments.count == 2 ? arguments[1] : nil) }
    }

    mutating func beginExchange(_ mechanism: String, initialArgument: [UInt8]?) -> [DialogueAction] {
        var initial: [UInt8]? = nil
        if let initialArgument {
            if initialArgument == [UInt8(ascii: "=")] {
                initial = []  // RFC 4954: "=" is an empty initial response
            } else if let decoded = Base64.decode(initialArgument) {
                initial = decoded
            } else {
                return failed(reply: "501 5.5.2 Cannot decode response\r\n", counts: true)
            }
        }
        switch mode {
        case .certificate:
            guard let initial else {
                state = .exchanging(.external)
                return reply("334 ")
            }
            return finishExternal(authorizationIdentity: initial)
        case .sasl:
            guard let authenticator else { return failed(reply: SMTPAuthFailure.temporary(detail: "").reply, counts: false) }
            return handleStep(authenticator.start(mechanism: mechanism, initialResponse: initial))
        }
    }

    /// A line sent in answer to a 334 challenge.
    mutating func handleResponse(_ line: [UInt8], _ exchange: Exchange) -> [DialogueAction] {
        state = .ready
        if line == [UInt8(ascii: "*")] { return reply("501 5.7.0 Authentication aborted") }
        return attempt { $0.continueExchange(line, exchange) }
    }

    mutating func continueExchange(_ line: [UInt8], _ exchange: Exchange) -> [DialogueAction] {
        guard let decoded = Base64.decode(line) else {
            return failed(reply: "501 5.5.2 Cannot decode response\r\n", counts: true)
        }
        switch exchange {
        case .external: return finishExternal(authorizationIdentity: decoded)
        case .sasl:
            guard let authenticator else { return failed(reply: SMTPAuthFailure.temporary(detail: "").reply, counts: false) }
            return handleStep(authenticator.step(response: decoded))
        }
    }

    /// EXTERNAL (RFC 4422 appendix A): the certificate is the credential; the client may only ask to be
    /// exactly who the certificate says.
    mutating func finishExternal(authorizationIdentity: [UInt8]) -> [DialogueAction] {
        guard let identity = certificateIdentity,
              authorizationIdentity.isEmpty || authorizationIdentity == Array(identity.utf8) else {
            return failed(reply: SMTPAuthFailure.invalidCredentials.reply, counts: true)
        }
        return succeed(user: identity, completion: .answer235)
    }

    mutating func handleStep(_ step: SMTPAuthStep) -> [DialogueAction] {
        switch step {
        case .challenge(let data):
            state = .exchanging(.sasl)
            return reply("334 " + Base64.encode(data))
        case .success(let user, let additional):
            if let additional, !additional.isEmpty {
                state = .awaitingFinalAck(user: user)
                return reply("334 " + Base64.encode(additional))
            }
            return succeed(user: user, completion: .answer235)
        case .failure(let failure):
            state = .ready
            return failed(reply: failure.reply, counts: failure == .invalidCredentials)
        }
    }

    /// Runs one step that may check a credential under the cross-connection policy: an address over its limit
    /// gets 454 and no check at all; a failure is reported the moment it happens, not when the connection ends.
    mutating func attempt(_ step: (inout SMTPAuthGateDialogue) -> [DialogueAction]) -> [DialogueAction] {
        guard let policy = attemptPolicy else { return step(&self) }
        guard policy.mayAttempt() else {
            state = .ready
            return reply("454 4.7.0 Too many failed authentication attempts from your address, try again later")
        }
        let before = failures
        let actions = step(&self)
        policy.attemptEnded(failed: failures > before)
        return actions
    }

    mutating func failed(reply text: String, counts: Bool) -> [DialogueAction] {
        state = .ready
        var actions: [DialogueAction] = [.sendToClient(Array(text.utf8))]
        guard counts else { return actions }
        failures += 1
        guard failures >= failureLimit else { return actions }
        state = .finished
        actions.append(.sendToClient(Array("421 4.7.0 Too many failed authentication attempts\r\n".utf8)))
        // On bytes: "\r\n" is one Character in Swift, so String.dropLast would take a letter with it.
        let last = String(decoding: Array(text.utf8).dropLast(2), as: UTF8.self)
        actions.append(.close(reason: "too many failed authentication attempts (\(failures)), last: \(last)"))
        return actions
    }
}
