/// The part of the IMAP, POP3 and SMTP STARTTLS dialogues that is the same for all three: the phase, both line
/// readers, reply ordering, the ClientHello check, and what happens around the TLS handshake.
///
/// Each dialogue keeps one core next to its own parsing state; its command table, reply texts and capability
/// rewriting stay in its file. The receive loops (the `StartTLSDialogueHooks` extension below) hand each complete
/// line to the dialogue, which answers it with `forward`, `answer`, `acceptStartTLS` and `completeBackend` here.
/// The loops live in a protocol extension rather than in the core so that they can call the dialogue's line
/// handlers, which change both the dialogue's state and its core, without overlapping access to the core.
struct StartTLSDialogueCore<Pending: StartTLSPending>: Sendable {
    fileprivate(set) var phase: StartTLSPhase = .dialogue
    fileprivate var client: LineReader
    fileprivate var backend: LineReader
    fileprivate var helloDetector = ClientHelloDetector()
    private var sequencer = ReplySequencer<Pending>()
    private var heldBackendBytes: [UInt8] = []
    fileprivate let wording: StartTLSWording

    init(maxClientLineLength: Int, wording: StartTLSWording) {
        client = LineReader(maxLineLength: maxClientLineLength)
        backend = LineReader(maxLineLength: maxBackendLineLength)
        self.wording = wording
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

    mutating func answer(_ reply: String) -> [DialogueAction] {
        answer(ascii(reply))
    }

    /// STARTTLS/STLS accepted: later client input is dropped, and `reply` plus `.startTLS` leave once every
    /// earlier forwarded command has its reply.
    mutating func acceptStartTLS(reply: [UInt8]) -> [DialogueAction] {
        phase = .tlsRequested
        client.discardBuffered()
        return emit(sequencer.enqueueLocal([.sendToClient(reply), .startTLS]))
    }

    /// The backend finished the reply to the first awaiting entry that `matches`; returns our answers now due.
    mutating func completeBackend(where matches: (Pending) -> Bool = { _ in true }) -> [DialogueAction] {
        emit(sequencer.completeBackend(where: matches))
    }

    /// Skips up to `count` client bytes that are not line-structured (IMAP literal data); returns how many.
    mutating func skipClientBytes(upTo count: Int) -> Int {
        client.skip(upTo: count)
    }

    /// Removes up to `count` backend bytes that are not line-structured (IMAP literal data).
    mutating func takeBackendBytes(upTo count: Int) -> [UInt8] {
        backend.take(upTo: count)
    }

    private mutating func tooManyPending() -> [DialogueAction] {
        fatal(wording.tooManyCommands, reason: wording.tooManyCommandsReason)
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
        case .dialogue, .tlsRequested:
            var out: [DialogueAction] = []
            let rest = partialReply + backend.takeBuffered()
            if !rest.isEmpty { out.append(.sendToClient(rest)) }
            if sequencer.firstAwaiting == .greeting, let reply = wording.mailProtocol.unavailableReply {
                out.append(.sendToClient(reply))
            }
            return out + close("backend closed the connection")
        }
    }

    // MARK: Helpers

    fileprivate mutating func hold(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
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
    mutating func fatal(_ reply: String, reason: String) -> [DialogueAction] {
        [.sendToClient(ascii(reply))] + close(reason)
    }

    mutating func close(_ reason: String) -> [DialogueAction] {
        phase = .closed
        client.discardBuffered()
        backend.discardBuffered()
        return [.close(reason: reason)]
    }
}

/// A dialogue's words for the situations the core handles the same way for every protocol.
struct StartTLSWording: Sendable {
    /// Sent before closing when a client line is longer than the dialogue accepts.
    let lineTooLong: String
    /// Sent before closing when more than `maxPendingCommands` commands wait for an answer.
    let tooManyCommands: String
    let tooManyCommandsReason: String
    /// Close reason when `tlsEstablished()` comes without a STARTTLS/STLS request.
    let unrequestedTLSReason: String
    /// Whose `unavailableReply` the client gets when the backend closes before its greeting.
    let mailProtocol: MailProtocol
}

/// What a dialogue waits for from the backend. Every dialogue waits for the greeting first.
protocol StartTLSPending: Equatable, Sendable {
    static var greeting: Self { get }
}

/// What a dialogue supplies to the shared receive loops: its core and the handling of one complete line.
protocol StartTLSDialogueHooks: MailDialogue {
    associatedtype Pending: StartTLSPending
    var core: StartTLSDialogueCore<Pending> { get set }

    /// One complete client line while plaintext commands are read.
    mutating func handleClientLine(_ line: LineReader.Line) -> [DialogueAction]
    /// One complete backend line while replies to forwarded commands are read.
    mutating func handleBackendLine(_ line: LineReader.Line) -> [DialogueAction]
    /// Consumes client bytes that come before the next line but are not one (IMAP literal data); false while
    /// more such bytes are expected. By default there are none.
    mutating func skipClientNonLineBytes() -> Bool
    /// Passes on backend bytes that come before the next line but are not one (IMAP literal data); false while
    /// more such bytes are expected. By default there are none.
    mutating func passBackendNonLineBytes(into out: inout [DialogueAction]) -> Bool
}

extension StartTLSDialogueHooks {
    func skipClientNonLineBytes() -> Bool { true }
    func passBackendNonLineBytes(into out: inout [DialogueAction]) -> Bool { true }

    /// `receiveFromClient`: plaintext commands line by line until STARTTLS; then nothing until TLS is up.
    mutating func receiveClientBytes(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        switch core.phase {
        case .closed, .tlsRequested, .awaitingTLS:
            return []  // after STARTTLS: plaintext injected behind it, discarded
        case .relaying:
            return bytes.isEmpty ? [] : [.sendToBackend(Array(bytes))]
        case .dialogue:
            break
        }
        if core.helloDetector.inspect(bytes) == .clientHello {
            return core.close(ClientHelloDetector.closeReason)
        }
        core.client.append(bytes)
        var out: [DialogueAction] = []
        while core.phase == .dialogue {
            guard skipClientNonLineBytes() else { return out }
            switch core.client.next() {
            case .needMoreData:
                return out
            case .overlong:
                return out + core.fatal(core.wording.lineTooLong, reason: "client line too long")
            case .line(let line):
                out += handleClientLine(line)
            }
        }
        return out
    }

    /// `receiveFromBackend`: replies line by line until `.startTLS` has left; then held until TLS is up.
    mutating func receiveBackendBytes(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        switch core.phase {
        case .closed:
            return []
        case .relaying:
            return bytes.isEmpty ? [] : [.sendToClient(Array(bytes))]
        case .awaitingTLS:
            return core.hold(bytes)
        case .dialogue, .tlsRequested:
            break
        }
        core.backend.append(bytes)
        var out: [DialogueAction] = []
        while core.phase == .dialogue || core.phase == .tlsRequested {
            guard passBackendNonLineBytes(into: &out) else { return out }
            switch core.backend.next() {
            case .needMoreData:
                return out
            case .overlong:
                return out + core.close("backend line too long")
            case .line(let line):
                out += handleBackendLine(line)
            }
        }
        if core.phase == .awaitingTLS {
            out += core.hold(core.backend.takeBuffered()[...])
        }
        return out
    }
}
