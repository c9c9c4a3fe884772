import MailTunnelProtocols

/// While a dialogue is active, mailtunnel itself speaks the protocol: every byte from either side goes through
/// the state machine, and only what it returns is sent on.
extension Connection {
    /// Queued bytes above which the dialogue stops reading (a client flooding commands cannot grow memory).
    private static let dialogueQueueLimit = 64 * 1024

    func pumpDialogue() {
        var progress = true
        while progress {
            progress = false
            guard let turn = dialogueTurn else { break }
            guard case .running(let backendClosed) = turn else { return startUpgradeIfFlushed() }
            guard flushBackend(), flushClient() else { return }
            let roomy = toClient.count < Self.dialogueQueueLimit && toBackend.count < Self.dialogueQueueLimit
            if roomy, !backendClosed, backend.readable {
                switch backend.read(into: loop.scratch) {
                case .bytes(let n):
                    let bytes = Array(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<n]))
                    if dialogueMayBlock(clientBytes: []) { return offload(.backend(bytes)) }
                    feedDialogue { $0.receiveFromBackend(bytes[...]) }
                    progress = true
                case .eof:
                    // Told to the dialogue once: a closed socket keeps reading as EOF.
                    if case .dialogue(var dialogue) = state { dialogue.backendClosed = true; state = .dialogue(dialogue) }
                    feedDialogue { machine in machine.backendClosed() }
                    progress = true
                case .wouldBlock: break
                case .failed(let why): return finish(why)
                }
            }
            guard case .running = dialogueTurn else { continue }
            if roomy, client.canRead {
                switch client.read(into: loop.scratch) {
                case .bytes(let n):
                    let bytes = Array(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<n]))
                    if dialogueMayBlock(clientBytes: bytes[...]) { return offload(.client(bytes)) }
                    feedDialogue { $0.receiveFromClient(bytes[...]) }
                    progress = true
                case .eof: return finish(.closedBy(.client))
                case .wouldBlock: break
                case .failed(let why): return finish(why)
                }
            }
        }
        continueAfterDialogue()
    }

    /// Where the dialogue stands, without holding on to its machine (which must stay unshared while it is fed).
    private enum DialogueTurn {
        /// Lent to a worker: nothing is read until it returns.
        case waiting
        case upgrading
        case running(backendClosed: Bool)
    }

    private var dialogueTurn: DialogueTurn? {
        guard case .dialogue(let dialogue) = state else { return nil }
        switch dialogue.machine {
        case .lent: return .waiting
        case .upgrading: return .upgrading
        case .running: return .running(backendClosed: dialogue.backendClosed)
        }
    }

    /// The reply to STARTTLS must be on the wire before the handshake starts; nothing the client sent in
    /// plaintext after its STARTTLS line is ever read as a command.
    private func startUpgradeIfFlushed() {
        guard case .upgrading = dialogueTurn, flushBackend(), flushClient(), toClient.isEmpty,
              case .dialogue(let dialogue) = state else { return }
        beginHandshake(resuming: dialogue)
    }

    /// Feeds the running dialogue and performs what it returns. The machine is taken out of `state` for the call,
    /// so it is mutated in place.
    private func feedDialogue(_ body: (inout any MailDialogue) -> [DialogueAction]) {
        guard case .dialogue(var dialogue) = state, case .running(var machine) = dialogue.machine else { return }
        dialogue.machine = .lent
        state = .dialogue(dialogue)
        let actions = body(&machine)
        dialogue.machine = .running(machine)
        state = .dialogue(dialogue)
        perform(actions)
    }

    /// Whether feeding this input to the dialogue may block the loop (a credential check).
    private func dialogueMayBlock(clientBytes: ArraySlice<UInt8>) -> Bool {
        guard case .dialogue(let dialogue) = state, case .running(let machine) = dialogue.machine else { return false }
        return machine.mayBlock(clientBytes: clientBytes)
    }

    /// After a dialogue's actions ran outside the pump (TLS came up, a worker returned): carry on.
    func continueAfterDialogueActions() {
        if state.isDialogue { pumpDialogue() } else { continueAfterDialogue() }
    }

    /// Where the dialogue left the connection: relaying, or closing with a last reply.
    func continueAfterDialogue() {
        switch state {
        case .relaying: pumpRelay()
        case .closing(let reason, _):
            _ = flushBackend()
            continueClosing(reason)
        case .proxyHeader, .handshaking, .connecting, .securingServer, .dialogue, .closed: break
        }
    }

    /// Applies the actions; the caller continues the connection (no recursion into the pump from here).
    func perform(_ actions: [DialogueAction]) {
        for action in actions {
            if state.isClosed { return }
            switch action {
            case .sendToClient(let bytes): toClient.append(bytes)
            case .sendToBackend(let bytes): toBackend.append(bytes)
            case .startTLS:
                if case .dialogue(var dialogue) = state, case .running(let machine) = dialogue.machine {
                    dialogue.machine = .upgrading(machine)
                    state = .dialogue(dialogue)
                }
            case .relay:
                guard dialogueFinished() else { return }
            case .close(let reason):
                beginClosing(.dialogue(reason))
            }
        }
    }
}
