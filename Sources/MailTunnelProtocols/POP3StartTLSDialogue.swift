/// POP3 before STLS (RFC 1939, RFC 2449, RFC 2595 §4): mailtunnel answers the AUTHORIZATION state itself.
///
/// Design choices:
/// - The greeting is passed through byte for byte: its APOP timestamp `<…>` is what the client will hash after
///   TLS, and the backend checks it against the greeting it sent.
/// - CAPA is forwarded (the client should see the backend's real extensions) and its list rewritten line by line:
///   USER and SASL are dropped because they would invite plaintext credentials, any backend STLS is dropped and
///   ours is added once just before the terminating ".". A backend answering CAPA with -ERR (pre-RFC 2449) is
///   passed through unchanged rather than inventing a capability list for it.
/// - POP3 replies carry no tag, so replies must come back in command order; forwarded commands and our own
///   answers share one queue, and the STLS answer is deferred until every forwarded reply is complete.
public struct POP3StartTLSDialogue: MailDialogue, Sendable {
    /// Longest client line accepted, CRLF included.
    public static let maxLineLength = 4096

    /// What ends the backend reply a queue entry is waiting for.
    private enum Pending: Sendable, Equatable {
        case greeting
        /// One status line.
        case singleLine
        /// CAPA: a status line, then for +OK a list ending in ".".
        case capability
    }

    private var phase: StartTLSPhase = .dialogue
    private var client = LineReader(maxLineLength: POP3StartTLSDialogue.maxLineLength)
    private var backend = LineReader(maxLineLength: maxBackendLineLength)
    private var sequencer = ReplySequencer<Pending>()
    private var helloDetector = ClientHelloDetector()
    private var heldBackendBytes: [UInt8] = []
    /// Inside the multi-line body of a CAPA reply.
    private var inCapabilityList = false

    public init() {
        sequencer.enqueueBackend(.greeting)
    }

    // MARK: Client side

    public mutating func receiveFromClient(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        switch phase {
        case .closed, .tlsRequested, .awaitingTLS:
            return []  // after STLS: plaintext injected behind it, discarded
        case .relaying:
            return bytes.isEmpty ? [] : [.sendToBackend(Array(bytes))]
        case .dialogue:
            break
        }
        if helloDetector.inspect(bytes) == .clientHello {
            return close(ClientHelloDetector.closeReason)
        }
        client.append(bytes)
        var out: [DialogueAction] = []
        while phase == .dialogue {
            switch client.next() {
            case .needMoreData:
                return out
            case .overlong:
                return out + [.sendToClient(ascii("-ERR Line too long\r\n"))] + close("client line too long")
            case .line(let line):
                out += handleClientLine(line)
            }
        }
        return out
    }

    private mutating func handleClientLine(_ line: LineReader.Line) -> [DialogueAction] {
        let content = line.content
        if content.contains(0) {
            return answer("-ERR NUL octet in command\r\n")
        }
        let (keyword, arguments) = splitFirstWord(content)
        let hasArguments = !(arguments ?? []).isBlankASCII
        if keyword.asciiEqualsUppercase("CAPA") {
            return forward(line, awaiting: .capability)
        }
        if keyword.asciiEqualsUppercase("NOOP") || keyword.asciiEqualsUppercase("QUIT") {
            return forward(line, awaiting: .singleLine)
        }
        if keyword.asciiEqualsUppercase("STLS") {
            if hasArguments { return answer("-ERR STLS takes no arguments\r\n") }
            phase = .tlsRequested
            client.discardBuffered()
            return emit(sequencer.enqueueLocal([.sendToClient(ascii("+OK Begin TLS negotiation\r\n")), .startTLS]))
        }
        for refused in ["USER", "PASS", "APOP", "AUTH"] where keyword.asciiEqualsUppercase(refused) {
            return answer("-ERR [AUTH] Must issue STLS first\r\n")
        }
        return answer("-ERR Command not permitted before STLS\r\n")
    }

    private mutating func forward(_ line: LineReader.Line, awaiting pending: Pending) -> [DialogueAction] {
        guard sequencer.count < maxPendingCommands else { return tooManyPending() }
        sequencer.enqueueBackend(pending)
        return [.sendToBackend(line.raw)]
    }

    private mutating func answer(_ reply: String) -> [DialogueAction] {
        guard sequencer.count < maxPendingCommands else { return tooManyPending() }
        return emit(sequencer.enqueueLocal([.sendToClient(ascii(reply))]))
    }

    private mutating func tooManyPending() -> [DialogueAction] {
        [.sendToClient(ascii("-ERR Too many pipelined commands\r\n"))] + close("too many pipelined commands before STLS")
    }

    // MARK: Backend side

    public mutating func receiveFromBackend(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        switch phase {
        case .closed:
            return []
        case .relaying:
            return bytes.isEmpty ? [] : [.sendToClient(Array(bytes))]
        case .awaitingTLS:
            return hold(bytes)
        case .dialogue, .tlsRequested:
            break
        }
        backend.append(bytes)
        var out: [DialogueAction] = []
        while phase == .dialogue || phase == .tlsRequested {
            switch backend.next() {
            case .needMoreData:
                return out
            case .overlong:
                return out + close("backend line too long")
            case .line(let line):
                out += handleBackendLine(line)
            }
        }
        if phase == .awaitingTLS {
            out += hold(backend.takeBuffered()[...])
        }
        return out
    }

    private mutating func handleBackendLine(_ line: LineReader.Line) -> [DialogueAction] {
        guard let pending = sequencer.firstAwaiting else {
            return [.sendToClient(line.raw)]  // unsolicited (e.g. a timeout notice): pass it on
        }
        switch pending {
        case .greeting, .singleLine:
            return [.sendToClient(line.raw)] + complete()
        case .capability where !inCapabilityList:
            if line.content.asciiHasUppercasePrefix("+OK") {
                inCapabilityList = true
                return [.sendToClient(line.raw)]
            }
            return [.sendToClient(line.raw)] + complete()
        case .capability:
            if line.content.elementsEqual([UInt8(ascii: ".")]) {
                inCapabilityList = false
                return [.sendToClient(ascii("STLS\r\n")), .sendToClient(line.raw)] + complete()
            }
            let (keyword, _) = splitFirstWord(line.content)
            if keyword.asciiEqualsUppercase("USER") || keyword.asciiEqualsUppercase("SASL")
                || keyword.asciiEqualsUppercase("STLS") {
                return []
            }
            return [.sendToClient(line.raw)]
        }
    }

    private mutating func complete() -> [DialogueAction] {
        emit(sequencer.completeBackend { _ in true })
    }

    private mutating func hold(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        guard heldBackendBytes.count + bytes.count <= maxHeldBackendBytes else {
            return close("backend sent too much during the TLS handshake")
        }
        heldBackendBytes += bytes
        return []
    }

    // MARK: Lifecycle

    public mutating func tlsEstablished() -> [DialogueAction] {
        guard phase == .awaitingTLS else {
            return close("TLS established without an STLS request")
        }
        phase = .relaying
        let held = heldBackendBytes
        heldBackendBytes = []
        return (held.isEmpty ? [] : [.sendToClient(held)]) + [.relay]
    }

    public mutating func backendClosed() -> [DialogueAction] {
        switch phase {
        case .closed:
            return []
        case .relaying, .awaitingTLS:
            return close("backend closed the connection")
        case .dialogue, .tlsRequested:
            var out: [DialogueAction] = []
            let rest = backend.takeBuffered()
            if !rest.isEmpty { out.append(.sendToClient(rest)) }
            if sequencer.firstAwaiting == .greeting, let reply = MailProtocol.pop3.unavailableReply {
                out.append(.sendToClient(reply))
            }
            return out + close("backend closed the connection")
        }
    }

    // MARK: Helpers

    private mutating func emit(_ actions: [DialogueAction]) -> [DialogueAction] {
        if actions.contains(.startTLS) { phase = .awaitingTLS }
        return actions
    }

    private mutating func close(_ reason: String) -> [DialogueAction] {
        phase = .closed
        client.discardBuffered()
        backend.discardBuffered()
        return [.close(reason: reason)]
    }
}
