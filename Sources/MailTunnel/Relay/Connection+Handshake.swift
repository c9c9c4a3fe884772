import MailTunnelProtocols
import MailTunnelTLS

extension Connection {
    func beginHandshake() {
        guard let context = listener.tls else { return finish("no TLS context") }
        do {
            tls = try context.makeSession(socket: clientFD)
        } catch {
            return finish("TLS session: \(error)")
        }
        enter(.handshaking)
        continueHandshake()
    }

    func continueHandshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .complete:
            tlsWriteWantsRead = false
            if tls.hasBufferedInput { clientReadable = true } // read ahead with the client's Finished
            tlsVersion = tls.version
            tlsCipher = tls.cipher
            peer = tls.peerIdentity
            handshakeCompleted()
        case .wantRead:
            clientReadable = false
        case .wantWrite:
            clientWritable = false
        case .failed(let error):
            tlsBroken = true
            finish("handshake failed: \(error.reasons.isEmpty ? "connection closed" : error.reasons.joined(separator: "; "))")
        }
    }

    private func handshakeCompleted() {
        if let refusal { return refuse(refusal) }
        if let denied = subjectDenial() { return refuse(denied) }
        if startTLSRequested, dialogue != nil {
            startTLSRequested = false
            enter(.dialogue)
            perform(dialogue?.tlsEstablished() ?? [])
            if phase == .dialogue { pumpDialogue() } else { continueAfterDialogue() }
        } else {
            connectNextBackend()
        }
    }

    /// `allow-subject`: a verified certificate whose CN or email is not listed is refused after the handshake,
    /// with the protocol's own error, so the client sees why. The listed name it was admitted under becomes its
    /// `loginName`, the identity every later step uses.
    private func subjectDenial() -> String? {
        let allowed = config.allowSubject
        guard !allowed.isEmpty else { return nil }
        guard var identity = peer else { return "client certificate required" }
        guard identity.admit(allowed) else { return "certificate subject not allowed: \(identity.subject)" }
        peer = identity
        return nil
    }
}
