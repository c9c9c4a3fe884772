import MailTunnelProtocols
import MailTunnelTLS

/// The client's TLS handshake: at accept for implicit TLS, or when a STARTTLS dialogue asked for it.
extension Connection {
    func beginHandshake(resuming dialogue: DialogueState? = nil) {
        guard let context = listener.tls else { return finish(.noTLSContext) }
        do {
            client.tls = .handshaking(try context.makeSession(socket: client.fd))
        } catch {
            return finish(.tlsSessionUnavailable("\(error)"))
        }
        handshakeBegan = loop.now
        enter(.handshaking(resuming: dialogue))
        continueHandshake()
    }

    func continueHandshake() {
        guard case .handshaking(let resuming) = state, case .handshaking(let session) = client.tls else { return }
        switch session.handshake() {
        case .complete:
            // Read-ahead may have pulled the client's first data in with its Finished; no new edge will tell.
            if session.hasBufferedInput { client.readable = true }
            client.handshakeCompleted(session)
            if let handshakeBegan { listener.stats.handshakeCompleted(after: loop.now - handshakeBegan) }
            handshakeCompleted(resuming: resuming)
        case .wantRead:
            client.readable = false
        case .wantWrite:
            client.writable = false
        case .failed(let error):
            client.tls = .failed
            finish(.handshakeFailed(error.reasons))
        }
    }

    private func handshakeCompleted(resuming: DialogueState?) {
        if let admissionRefusal { return refuse(admissionRefusal) }
        if let denied = subjectDenial() { return refuse(denied) }
        guard var dialogue = resuming, case .upgrading(var machine) = dialogue.machine else {
            return connectNextBackend()
        }
        let actions = machine.tlsEstablished()
        dialogue.machine = .running(machine)
        enter(.dialogue(dialogue))
        perform(actions)
        continueAfterDialogueActions()
    }

    /// `allow-subject`: a verified certificate whose CN or email is not listed is refused after the handshake,
    /// with the protocol's own error, so the client sees why. The listed name it was admitted under becomes its
    /// `loginName`, the identity every later step uses.
    private func subjectDenial() -> EndReason? {
        let allowed = config.allowSubject
        guard !allowed.isEmpty else { return nil }
        guard var identity = client.facts.peer else { return .certificateRequired }
        guard identity.admit(allowed) else { return .subjectNotAllowed(identity.subject) }
        client.facts.peer = identity
        return nil
    }
}
