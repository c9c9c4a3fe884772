/// The state every STARTTLS dialogue keeps whatever its protocol: the phase, both line readers, reply ordering,
/// the ClientHello check, and the backend bytes held during the TLS handshake. `StartTLSDialogue` drives it with
/// the verdicts of its protocol's `StartTLSRules`.
struct StartTLSDialogueCore<Pending: StartTLSPending>: Sendable {
    private(set) var phase: StartTLSPhase = .dialogue
    var client: LineReader
    var backend: LineReader
    var helloDetector = ClientHelloDetector()
    private var sequencer = ReplySequencer<Pending>()
    private var heldBackendBytes: [UInt8] = []
    /// `starttls = optional`: the client's first plaintext transaction line and what followed it.
    private var plaintextClientBytes: [UInt8] = []
    let wording: StartTLSWording
    /// Close reason when the client pipelines more than `maxPendingCommands` commands.
    private let tooManyCommandsReason: String

    init(maxClientLineLength: Int, startTLSVerb: String, wording: StartTLSWording) {
        client = LineReader(maxLineLength: maxClientLineLength)
        backend = LineReader(maxLineLength: maxBackendLineLength)
        self.wording = wording
        tooManyCommandsReason = "too many pipelined commands before \(startTLSVerb)"
        sequencer.enqueueBackend(.greeting)
    }

    // MARK: Answering client commands

    /// The oldest forwarded command (or the greeting) still waiting for the backend.
    var firstAwaiting: Pending? { sequencer.firstAwaiting }

    /// Sends the command line to the backend; its reply is expected as `pending`.
    mutating func forward(_ line: LineReader.Line, awaiting pending: Pending) -> [DialogueAction] {
        guard sequencer.count < maxPendingCommands else { return tooManyPending() }
        sequencer.enqueueBackend(pending)
        return [.sendToBackend(line.raw)]
    }

    /// Our own reply, delivered once every earlier forwarded command has its reply.
    mutating func answer(_ reply: [UInt8]) -> [DialogueAction] {
        guard sequencer.count < maxPendingCommands else { return tooManyPending() }
        return emit(sequencer.enqueueLocal([.sendToClient(reply)]))
    }

    /// STARTTLS/STLS accepted: later client input is dropped, and `reply` plus `.startTLS` leave once every
    /// earlier forwarded command has its reply.
    mutating func acceptStartTLS(reply: [UInt8]) -> [DialogueAction] {
        phase = .tlsRequested
        client.discardBuffered()
        return emit(sequencer.enqueueLocal([.sendToClient(reply), .startTLS]))
    }

    /// `starttls = optional`: the client sends mail without upgrading. Its line and everything after it wait until
    /// every earlier forwarded command has its reply; then `.relay` leaves and the dialogue hands them on.
    mutating func acceptPlaintextRelay(_ line: LineReader.Line) -> [DialogueAction] {
        phase = .plaintextRequested
        plaintextClientBytes = line.raw + client.takeBuffered()
        return emit(sequencer.enqueueLocal([.relay]))
    }

    /// Client bytes that arrive while a plaintext hand-over waits for earlier replies.
    mutating func holdPlaintext(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        guard plaintextClientBytes.count + bytes.count <= maxHeldBackendBytes else {
            return fatal(ascii(wording.tooManyCommands), reason: "client sent too much ahead of the backend's replies")
        }
        plaintextClientBytes += bytes
        return []
    }

    /// The plaintext hand-over's `.relay` has left: the client bytes it held, and what the backend sent behind.
    mutating func takePlaintextHandover() -> (client: [UInt8], backend: [UInt8]) {
        phase = .relaying
        defer { plaintextClientBytes = [] }
        return (plaintextClientBytes, backend.takeBuffered())
    }

    /// The backend finished the reply to the first entry awaiting `pending`; returns our answers now due.
    mutating func completeBackend(_ pending: Pending) -> [DialogueAction] {
        emit(sequencer.completeBackend(pending))
    }

    private mutating func tooManyPending() -> [DialogueAction] {
        fatal(ascii(wording.tooManyCommands), reason: tooManyCommandsReason)
    }

    // MARK: Lifecycle

    mutating func tlsEstablished() -> [DialogueAction] {
        guard phase == .awaitingTLS else {
            return close(wording.unrequestedTLSReason)
        }
        phase = .relaying
        let held = heldBackendBytes
        heldBackendBytes = []
        return (held.isEmpty ? [] : [.sendToClient(held)]) + [.relay]
    }

    /// `partialReply`: backend lines the dialogue collected but has not passed on yet; they go out first.
    mutating func backendClosed(partialReply: [UInt8] = []) -> [DialogueAction] {
        switch phase {
        case .closed:
            return []
        case .relaying, .awaitingTLS:
            return close("backend closed the connection")
        case .dialogue, .tlsRequested, .plaintextRequested:
            var out: [DialogueAction] = []
            let rest = partialReply + backend.takeBuffered()
            if !rest.isEmpty { out.append(.sendToClient(rest)) }
            if sequencer.firstAwaiting == .greeting, let reply = wording.mailProtocol.profile.unavailableReply {
                out.append(.sendToClient(reply))
            }
            return out + close("backend closed the connection")
        }
    }

    // MARK: Helpers

    mutating func hold(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        guard heldBackendBytes.count + bytes.count <= maxHeldBackendBytes else {
            return close("backend sent too much during the TLS handshake")
        }
        heldBackendBytes += bytes
        return []
    }

    /// Notes when `.startTLS` actually leaves the dialogue, so later backend bytes are held, not parsed.
    private mutating func emit(_ actions: [DialogueAction]) -> [DialogueAction] {
        if actions.contains(.startTLS) { phase = .awaitingTLS }
        return actions
    }

    /// Sends a last reply, then closes.
    mutating func fatal(_ reply: [UInt8], reason: String) -> [DialogueAction] {
        [.sendToClient(reply)] + close(reason)
    }

    mutating func close(_ reason: String) -> [DialogueAction] {
        phase = .closed
        client.discardBuffered()
        backend.discardBuffered()
        return [.close(reason: reason)]
    }
}

/// Where a STARTTLS dialogue stands. Every dialogue moves strictly forward through these.
enum StartTLSPhase: Equatable, Sendable {
    /// Plaintext commands are being read and answered or forwarded.
    case dialogue
    /// STARTTLS was accepted but its answer waits behind forwarded commands; client input is discarded.
    case tlsRequested
    /// `.startTLS` was returned; waiting for `tlsEstablished()`. Client input is discarded.
    case awaitingTLS
    /// `starttls = optional`: the client sent mail in plaintext; its input is held for the relay until every
    /// earlier reply is in.
    case plaintextRequested
    /// `.relay` was returned. Should the engine keep feeding bytes, they are passed through untouched.
    case relaying
    case closed
}

/// How many commands may wait for an answer before the client is considered abusive. Bounds the memory held for
/// answers queued behind a slow backend; real clients pipeline a handful of commands before TLS at most.
let maxPendingCommands = 64

/// Longest line accepted from the backend. Generous (capability lists can be long) but bounded.
let maxBackendLineLength = 65_536

/// Most bytes the backend may send between our `.startTLS` and `tlsEstablished()`; they are held and delivered
/// through TLS. A well-behaved backend sends nothing then, so this only bounds a misbehaving one.
let maxHeldBackendBytes = 65_536
