import Logging
import MailTunnelProtocols
import MailTunnelSASL
import MailTunnelTLS

/// The stage machine: after the backend answers, and after each dialogue hands over, the listener's protocol
/// profile names the next stage (STARTTLS, the SMTP gate, the XCLIENT hand-over) or the relay.
extension Connection {
    /// Starts the stage the profile names after `previous` (nil: the backend just answered), or the relay when
    /// there is none, watched by `inheritedFilter` or the profile's own filter. False if the connection is closing.
    @discardableResult
    func startStage(after previous: SessionStage?, inheritedFilter: (any RelayFilter)?) -> Bool {
        let settings = listener.sessionSettings
        guard let stage = profile.nextStage(after: previous, settings) else {
            relayFilter = inheritedFilter ?? profile.makeRelayFilter(fromGreeting: previous == nil)
            enter(.relaying(RelayProgress()))
            return true
        }
        let opening: StageOpening
        do {
            opening = try profile.openStage(stage, settings: settings, afterDialogue: previous != nil, facts: sessionFacts)
        } catch {
            if let detail = error.detail {
                listener.logger.error("\(error.reason)", metadata: ["listener": "\(config.name)", "error": "\(detail)"])
            }
            refuse(.stageUnavailable(error.reason), reply: error.reply)
            return false
        }
        enter(.dialogue(DialogueState(stage: stage, machine: .running(opening.dialogue))))
        perform(opening.actions)
        return !state.isClosed
    }

    /// The running dialogue said `.relay`: keep what it learnt, and start what comes next.
    func dialogueFinished() -> Bool {
        guard case .dialogue(let finished) = state, case .running(var machine) = finished.machine else { return false }
        state = .dialogue(DialogueState(stage: finished.stage, machine: .lent))
        collect(machine)
        let skipsLaterStages = machine.skipsLaterStages  // asked first: taking the filter forgets it
        let filter = machine.takeRelayFilter()
        guard !skipsLaterStages else {
            // A client that stayed in plaintext (starttls = optional): relay at once under the dialogue's guard.
            relayFilter = filter
            enter(.relaying(RelayProgress()))
            return true
        }
        return startStage(after: finished.stage, inheritedFilter: filter)
    }

    /// What a stage may need to know about the client.
    private var sessionFacts: SessionFacts {
        SessionFacts(client: client.endpoint, certificateIdentity: client.facts.peer?.loginName,
                     attemptPolicy: listener.authPolicy(host: client.host), trusted: listener.isTrusted(host: client.host),
                     makeAuthenticator: { [self] in try makeSASLServer() })
    }

    private func makeSASLServer() throws -> any SMTPAuthenticator {
        let facts = SASLServer.TLSFacts(strength: UInt32(client.session?.cipherBits ?? 0),
                                        externalIdentity: client.facts.peer?.loginName)
        return try SASLServer(service: config.saslService, local: SocketEndpoint(Sockets.localAddress(client.fd)),
                              remote: client.endpoint, tls: facts)
    }
}

extension ListenerConfig {
    /// The settings a protocol profile decides its stages by.
    var sessionSettings: SessionSettings {
        let authentication: ClientAuthentication
        switch auth {
        case .none: authentication = .none
        case .sasl: authentication = .sasl
        case .certificate: authentication = .certificate
        }
        // Client mode's STARTTLS is towards the server (securingServer), never a stage offered to the client.
        return SessionSettings(starttls: usesStartTLS && !client, authentication: authentication, xclient: xclient,
                               starttlsOptional: starttls == .optional)
    }

    /// The client speaks plaintext first: STARTTLS mode, or client mode (where it never speaks TLS).
    var plaintextClient: Bool { usesStartTLS || client }
}
