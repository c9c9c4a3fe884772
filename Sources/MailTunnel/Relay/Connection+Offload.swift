import MailTunnelProtocols

/// libsasl2 may block (saslauthd, PAM, LDAP). Client input for the SASL gate is therefore handed to
/// `SASLWorkerPool` together with the dialogue, and the connection waits, reading nothing, until the worker hands
/// both back on the loop thread. Other connections on the loop keep running meanwhile.
extension Connection {
    /// Gate dialogues that call into libsasl2 run their client input off the loop.
    var dialogueMayBlock: Bool { gateStarted && config.auth == .sasl }

    /// Whose turn a job is in the pool: the real client (the PROXY source where there is one), IPv6 by /64,
    /// since one host usually holds a whole /64.
    var workerKey: String {
        guard let address = clientEndpoint?.address else { return clientHost }
        if let v4 = address.unmappedIPv4 { return v4.description }
        guard address.isIPv6, let prefix = IPAddress(bytes: Array(address.bytes[0..<8]) + Array(repeating: 0, count: 8))
        else { return address.description }
        return prefix.description + "/64"
    }

    func offloadClientInput(_ bytes: [UInt8]) {
        guard let machine = dialogue else { return }
        dialogue = nil
        awaitingWorker = true
        let handoff = DialogueHandoff(dialogue: machine, connection: self)
        let loop = self.loop
        let filed = SASLWorkerPool.shared.submit(key: workerKey) {
            let actions = handoff.receiveFromClient(bytes)
            loop.execute { handoff.returnToLoop(actions) }
        }
        guard filed else {
            // This client already has many checks waiting (one per connection in the gate): refuse this one.
            awaitingWorker = false
            dialogue = machine
            refuse("too many pending authentications",
                   reply: Array("454 4.7.0 Too many authentication attempts in progress, try again later\r\n".utf8))
            return
        }
    }

    fileprivate func workerFinished(_ machine: any MailDialogue, _ actions: [DialogueAction]) {
        awaitingWorker = false
        // The connection may have timed out or been shut down while the worker held the dialogue.
        guard phase == .dialogue else { return }
        dialogue = machine
        perform(actions)
        if phase == .dialogue { pumpDialogue() } else { continueAfterDialogue() }
    }
}

/// Carries a dialogue and its connection to a worker thread and back.
/// `@unchecked Sendable`: ownership moves with it; the loop does not touch the dialogue while the worker has it
/// (the connection's `awaitingWorker` stops its pump), and the connection is only used again on its own loop.
private final class DialogueHandoff: @unchecked Sendable {
    private var dialogue: any MailDialogue
    private let connection: Connection

    init(dialogue: any MailDialogue, connection: Connection) {
        self.dialogue = dialogue
        self.connection = connection
    }

    func receiveFromClient(_ bytes: [UInt8]) -> [DialogueAction] {
        dialogue.receiveFromClient(bytes[...])
    }

    func returnToLoop(_ actions: [DialogueAction]) {
        connection.workerFinished(dialogue, actions)
    }
}
