/// SMTP before STARTTLS (RFC 5321, RFC 3207): mailtunnel answers the session itself until the client upgrades.
///
/// Design choices:
/// - EHLO is forwarded so the client sees the backend's real extensions; the reply is collected whole and then
///   rebuilt, because removing lines (AUTH, AUTH=, the backend's own STARTTLS) and appending STARTTLS changes
///   which line is the last one, and only the last may use `250 ` (RFC 5321 §4.2.1). XCLIENT and XFORWARD are
///   dropped too: the backend offers them to mailtunnel as a trusted peer, not to the client.
/// - HELO, NOOP, RSET and QUIT are forwarded because they are harmless and keep the backend's session state in
///   step. Everything that moves mail, authenticates or probes addresses (AUTH, MAIL, RCPT, DATA, BDAT, VRFY,
///   EXPN, ETRN) gets `530 5.7.0`, the RFC 3207 reply for "TLS required"; anything else `502 5.5.1`.
/// - SMTP replies carry no tag, so with PIPELINING they must come back in command order: our own answers queue
///   behind forwarded commands, and the STARTTLS `220` waits until every forwarded reply is complete.
public struct SMTPStartTLSDialogue: MailDialogue, Sendable {
    /// RFC 5321 §4.5.3.1.4: 512 octets including CRLF.
    public static let maxLineLength = 512

    /// What the queue entry is waiting for; all end at a reply's last line.
    private enum Pending: Sendable, Equatable {
        case greeting
        /// The EHLO reply, collected and rewritten.
        case ehlo
        /// Any other reply, streamed through.
        case plain
    }

    private var phase: StartTLSPhase = .dialogue
    private var client = LineReader(maxLineLength: SMTPStartTLSDialogue.maxLineLength)
    private var backend = LineReader(maxLineLength: maxBackendLineLength)
    private var sequencer = ReplySequencer<Pending>()
    private var helloDetector = ClientHelloDetector()
    private var heldBackendBytes: [UInt8] = []
    /// Lines of an EHLO reply not yet complete.
    private var ehloLines: [LineReader.Line] = []
    private var ehloBytes = 0

    public init() {
        sequencer.enqueueBackend(.greeting)
    }

    // MARK: Client side

    public mutating func receiveFromClient(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        switch phase {
        case .closed, .tlsRequested, .awaitingTLS:
            return []  // after STARTTLS: plaintext injected behind it, discarded
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
                return out + [.sendToClient(ascii("500 5.5.6 Line too long\r\n"))] + close("client line too long")
            case .line(let line):
                out += handleClientLine(line)
            }
        }
        return out
    }

    private mutating func handleClientLine(_ line: LineReader.Line) -> [DialogueAction] {
        let content = line.content
        if content.contains(0) {
            return answer("500 5.5.2 Syntax error, NUL octet in command\r\n")
        }
        let (verb, arguments) = splitFirstWord(content)
        if verb.isEmpty {
            return answer("500 5.5.2 Syntax error, command unrecognized\r\n")
        }
        if verb.asciiEqualsUppercase("EHLO") {
            return forward(line, awaiting: .ehlo)
        }
        for forwarded in ["HELO", "NOOP", "RSET", "QUIT"] where verb.asciiEqualsUppercase(forwarded) {
            return forward(line, awaiting: .plain)
        }
        if verb.asciiEqualsUppercase("STARTTLS") {
            if !(arguments ?? []).isBlankASCII { return answer("501 5.5.4 Syntax error\r\n") }
            phase = .tlsRequested
            client.discardBuffered()
            return emit(sequencer.enqueueLocal([.sendToClient(ascii("220 2.0.0 Ready to start TLS\r\n")), .startTLS]))
        }
        for refused in ["AUTH", "MAIL", "RCPT", "DATA", "BDAT", "VRFY", "EXPN", "ETRN"]
        where verb.asciiEqualsUppercase(refused) {
            return answer("530 5.7.0 Must issue a STARTTLS command first\r\n")
        }
        return answer("502 5.5.1 Command not available before STARTTLS\r\n")
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
        [.sendToClient(ascii("421 4.7.0 Too many pipelined commands\r\n"))]
            + close("too many pipelined commands before STARTTLS")
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

    /// RFC 5321 §4.2.1: every line but the last has "-" after the code.
    static func isLastLine(of content: ArraySlice<UInt8>) -> Bool {
        content.count < 4 || content[content.startIndex + 3] != UInt8(ascii: "-")
    }

    private mutating func handleBackendLine(_ line: LineReader.Line) -> [DialogueAction] {
        let last = Self.isLastLine(of: line.content)
        switch sequencer.firstAwaiting {
        case nil:
            return [.sendToClient(line.raw)]  // unsolicited (e.g. 421 on timeout): pass it on
        case .greeting, .plain:
            return [.sendToClient(line.raw)] + (last ? complete() : [])
        case .ehlo:
            ehloBytes += line.raw.count
            guard ehloBytes <= maxBackendLineLength else { return close("backend EHLO reply too long") }
            ehloLines.append(line)
            guard last else { return [] }
            let reply = Self.rewriteEHLOReply(ehloLines)
            ehloLines = []
            ehloBytes = 0
            return [.sendToClient(reply)] + complete()
        }
    }

    /// Rebuilds a complete EHLO reply: drops AUTH, STARTTLS, XCLIENT and XFORWARD, appends STARTTLS, and
    /// renumbers the continuation marks. A reply other than 250 (EHLO refused) is returned unchanged.
    static func rewriteEHLOReply(_ lines: [LineReader.Line]) -> [UInt8] {
        guard let first = lines.first, first.content.asciiHasUppercasePrefix("250") else {
            return lines.flatMap(\.raw)
        }
        var texts: [ArraySlice<UInt8>] = [first.content.dropFirst(4)]
        for line in lines.dropFirst() {
            let text = line.content.dropFirst(4)
            let keyword = text.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "=") }
            if ["AUTH", "STARTTLS", "XCLIENT", "XFORWARD"].contains(where: { keyword.asciiEqualsUppercase($0) }) {
                continue
            }
            texts.append(text)
        }
        texts.append(ascii("STARTTLS")[...])
        var out: [UInt8] = []
        for (index, text) in texts.enumerated() {
            out += ascii(index == texts.count - 1 ? "250 " : "250-") + text + ascii("\r\n")
        }
        return out
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
            return close("TLS established without a STARTTLS request")
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
            let partial = ehloLines.flatMap(\.raw) + backend.takeBuffered()
            if !partial.isEmpty { out.append(.sendToClient(partial)) }
            if sequencer.firstAwaiting == .greeting, let reply = MailProtocol.smtp.unavailableReply {
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
