import MailTunnelProtocols

/// libsasl2 may block (saslauthd, PAM, LDAP). Input that may reach it in the SASL gate (an AUTH line or a SASL
/// response from the client, or a backend reply that releases a pipelined AUTH line) is therefore handed to
/// `SASLWorkerPool` together with the dialogue, and the connection waits, reading nothing, until the worker hands
/// both back on the loop thread. Other connections on the loop keep running meanwhile, and the rest of the gate
/// dialogue (EHLO, NOOP, …) stays on the loop, so it never queues behind another connection's password check.
extension Connection {
    enum WorkerInput: Sendable {
        case client([UInt8])
        case backend([UInt8])
    }

    /// Whose turn a job is in the pool: the real client (the PROXY source where there is one), IPv6 by /64,
    /// since one host usually holds a whole /64.
    var workerKey: String {
        guard let address = client.endpoint?.address else { return client.host }
        if let v4 = address.unmappedIPv4 { return v4.description }
        guard address.isIPv6, let prefix = IPAddress(bytes: Array(address.bytes[0..<8]) + Array(repeating: 0, count: 8))
        else { return address.description }
        return prefix.description + "/64"
    }

    func offload(_ input: WorkerInput) {
        guard case .dialogue(var dialogue) = state, case .running(let machine) = dialogue.machine else { return }
        dialogue.machine = .lent
        state = .dialogue(dialogue)
        let handoff = DialogueHandoff(dialogue: machine, connection: self)
        let loop = self.loop
        let filed = SASLWorkerPool.shared.submit(key: workerKey) {
            let actions = handoff.receive(input)
            loop.execute { handoff.returnToLoop(actions) }
        }
        guard filed else {
            // This client already has many checks waiting (one per connection in the gate): refuse this one.
            dialogue.machine = .running(machine)
            state = .dialogue(dialogue)
            refuse(.authenticationsPending, reply: profile.authenticationBusyReply)
            return
        }
    }

    fileprivate func workerFinished(_ machine: any MailDialogue, _ actions: [DialogueAction]) {
        // The connection may have timed out or been shut down while the worker held the dialogue.
        guard case .dialogue(var dialogue) = state, case .lent = dialogue.machine else { return }
        dialogue.machine = .running(machine)
        state = .dialogue(dialogue)
        perform(actions)
        continueAfterDialogueActions()
    }
}

/// Carries a dialogue and its connection to a worker thread and back.
/// `@unchecked Sendable`: ownership moves with it; the loop does not touch the dialogue while the worker has it
/// (the connection's state says `.lent`, which stops its pump), and the connection is only used again on its loop.
private final class DialogueHandoff: @unchecked Sendable {
    private var dialogue: any MailDialogue
    private let connection: Connection

    init(dialogue: any MailDialogue, connection: Connection) {
        self.dialogue = dialogue
        self.connection = connection
    }

    func receive(_ input: Connection.WorkerInput) -> [DialogueAction] {
        switch input {
        case .client(let bytes): return dialogue.receiveFromClient(bytes[...])
        case .backend(let bytes): return dialogue.receiveFromBackend(bytes[...])
        }
    }

    func returnToLoop(_ actions: [DialogueAction]) {
        connection.workerFinished(dialogue, actions)
    }
}
