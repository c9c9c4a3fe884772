import MailTunnelProtocols

/// While a dialogue is active, mailtunnel itself speaks the protocol: every byte from either side goes through
/// the state machine, and only what it returns is sent on.
extension Connection {
    /// Queued bytes above which the dialogue stops reading (a client flooding commands cannot grow memory).
    private static let dialogueQueueLimit = 64 * 1024

    func pumpDialogue() {
        var progress = true
        while progress && phase == .dialogue && !awaitingWorker {
            progress = false
            guard flushBackend(), flushClient(), phase == .dialogue else { return }
            if startTLSRequested {
                // The reply to STARTTLS must be on the wire before the handshake starts; nothing the client
                // sent in plaintext after its STARTTLS line is ever read as a command.
                if toClient.isEmpty { beginHandshake() }
                return
            }
            let roomy = toClient.count < Self.dialogueQueueLimit && toBackend.count < Self.dialogueQueueLimit
            if roomy, !backendEOF, backendReadable {
                switch readBackend(into: loop.scratch) {
                case .bytes(let n):
                    let bytes = Array(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<n]))
                    if dialogueMayBlock(clientBytes: []) { return offload(.backend(bytes)) }
                    perform(dialogue?.receiveFromBackend(bytes[...]) ?? [])
                    progress = true
                case .eof:
                    backendEOF = true
                    perform(dialogue?.backendClosed() ?? [.close(reason: "backend closed")])
                    progress = true
                case .wouldBlock: break
                case .failed(let why): return finish(why)
                }
            }
            guard phase == .dialogue, !startTLSRequested else { continue }
            if roomy, canReadClient {
                switch readClient(into: loop.scratch) {
                case .bytes(let n):
                    let bytes = Array(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<n]))
                    if dialogueMayBlock(clientBytes: bytes[...]) { return offload(.client(bytes)) }
                    perform(dialogue?.receiveFromClient(bytes[...]) ?? [])
                    progress = true
                case .eof: return finish("client closed")
                case .wouldBlock: break
                case .failed(let why): return finish(why)
                }
            }
        }
        continueAfterDialogue()
    }

    /// Where the dialogue left the connection: relaying, or closing with a last reply.
    func continueAfterDialogue() {
        switch phase {
        case .relaying: pumpRelay()
        case .closing(let reason):
            _ = flushBackend()
            continueClosing(reason)
        default: break
        }
    }

    /// The current dialogue handed over: start the next one (auth gate or XCLIENT hand-over after a STARTTLS
    /// upgrade), or relay. False if the connection is closing.
    private func dialogueFinished() -> Bool {
        var inheritedGuard: SMTPRelayGuard?
        if var finished = dialogue {
            user = user ?? finished.authenticatedUser
            authFailures += finished.failures
            inheritedGuard = finished.takeRelayGuard()
        }
        dialogue = nil
        if needsGate {
            // STARTTLS is done; the client's new EHLO now meets the auth gate, not the backend.
            return startGate(backendGreeted: true)
        }
        if needsHandover {
            guard startHandover(greeted: true) else { return false }
            perform(dialogue?.tlsEstablished() ?? [])
            return phase != .closed
        }
        smtpGuard = inheritedGuard ?? (config.protocol == .smtp ? SMTPRelayGuard() : nil)
        enter(.relaying)
        return true
    }

    /// Applies the actions; the caller continues the connection (no recursion into the pump from here).
    func perform(_ actions: [DialogueAction]) {
        for action in actions {
            guard phase != .closed else { return }
            switch action {
            case .sendToClient(let bytes): toClient.append(bytes)
            case .sendToBackend(let bytes): toBackend.append(bytes)
            case .startTLS: startTLSRequested = true
            case .relay:
                guard dialogueFinished() else { return }
            case .close(let reason):
                enter(.closing(reason))
            }
        }
    }
}
