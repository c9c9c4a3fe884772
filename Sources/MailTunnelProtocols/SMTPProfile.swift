/// SMTP: 421/454 replies with enhanced status codes; STARTTLS per RFC 3207; after TLS the auth gate
/// (`auth = sasl|certificate`) or the XCLIENT hand-over (`xclient = yes` alone); and the relay guard on every
/// relayed session, because a backend may trust mailtunnel's address for XCLIENT.
public struct SMTPProfile: ProtocolProfile {
    public init() {}
    public var inferredPorts: [Int] { [465, 587, 25] }
    public var supportsAuthGate: Bool { true }
    public var supportsXCLIENT: Bool { true }
    public var unavailableReply: [UInt8]? { Array("421 4.3.0 Mail service temporarily unavailable, try again later\r\n".utf8) }
    public func refusalReply(_ text: String) -> [UInt8]? { Array("421 4.7.0 \(text)\r\n".utf8) }
    public var shutdownReply: [UInt8]? { Array("421 4.3.2 Server shutting down\r\n".utf8) }
    public var temporaryAuthFailureReply: [UInt8]? { Array("454 4.7.0 Temporary authentication failure\r\n".utf8) }
    public var authenticationBusyReply: [UInt8]? {
        Array("454 4.7.0 Too many authentication attempts in progress, try again later\r\n".utf8)
    }
    public var handoverFailureReply: [UInt8]? { Array("421 4.3.0 Mail service temporarily unavailable\r\n".utf8) }
    public func makeStartTLSDialogue() -> (any MailDialogue)? { SMTPStartTLSDialogue() }

    public func stagesAfterTLS(_ settings: SessionSettings) -> [SessionStage] {
        switch settings.authentication {
        case .sasl, .certificate: return [.authGate] // the gate sends XCLIENT itself when asked to
        case .none: return settings.xclient ? [.handover] : []
        }
    }

    public func openStage(_ stage: SessionStage, settings: SessionSettings, afterDialogue: Bool, facts: SessionFacts)
        throws(StageFailure) -> StageOpening {
        switch stage {
        case .startTLS:
            guard settings.starttlsOptional else { return StageOpening(dialogue: SMTPStartTLSDialogue()) }
            // A client that never upgrades cannot authenticate: it is trusted, or it may deliver locally, or neither.
            let policy = relayRules(settings).policy(login: nil, trusted: facts.trusted)
            return StageOpening(dialogue: SMTPStartTLSDialogue(rules: SMTPStartTLSRules(plaintextPolicy: policy)))
        case .authGate:
            return try openAuthGate(settings, afterDialogue: afterDialogue, facts: facts)
        case .handover:
            do {
                let commands = try XCLIENT.commands(XCLIENT.attributes(client: facts.client, login: nil))
                var dialogue = XCLIENTHandoverDialogue(commands: commands, greeted: afterDialogue)
                // After STARTTLS the client already saw a greeting: XCLIENT goes out at once.
                let actions = afterDialogue ? dialogue.tlsEstablished() : []
                return StageOpening(dialogue: dialogue, actions: actions)
            } catch {
                throw StageFailure(reason: "XCLIENT unavailable", reply: handoverFailureReply)
            }
        }
    }

    /// Replaces the dialogue before it with the gate (the client's new EHLO after STARTTLS meets the gate).
    private func openAuthGate(_ settings: SessionSettings, afterDialogue: Bool, facts: SessionFacts)
        throws(StageFailure) -> StageOpening {
        var authenticator: (any SMTPAuthenticator)?
        let mode: SMTPAuthGateDialogue.Mode = settings.authentication == .certificate ? .certificate : .sasl
        if mode == .sasl {
            do {
                authenticator = try facts.makeAuthenticator()
            } catch {
                throw StageFailure(reason: "SASL unavailable", reply: temporaryAuthFailureReply, detail: "\(error)")
            }
        }
        let gate = SMTPAuthGateDialogue(
            mode: mode, authenticator: authenticator, client: facts.client,
            certificateIdentity: facts.certificateIdentity, xclient: settings.xclient,
            backendGreeted: afterDialogue, attemptPolicy: facts.attemptPolicy,
            relayRules: relayRules(settings), trusted: facts.trusted)
        return StageOpening(dialogue: gate)
    }

    /// The listener's relay rules; whether a client must authenticate follows from `auth` alone.
    private func relayRules(_ settings: SessionSettings) -> SMTPRelayRules {
        var rules = settings.relayRules
        rules.authenticationRequired = settings.authentication != .none
        return rules
    }

    public func makeRelayFilter(fromGreeting: Bool) -> (any RelayFilter)? {
        // Relayed from its start, the guard follows the backend's greeting and every reply after it.
        SMTPRelayGuard(awaitingGreeting: fromGreeting)
    }
}
