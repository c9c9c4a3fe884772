/// IMAP before STARTTLS (RFC 2595, RFC 3501 §6.2.1, RFC 9051): mailtunnel speaks the not-authenticated state
/// itself and lets through only commands that cannot reveal credentials.
///
/// Design choices:
/// - CAPABILITY, NOOP, ID and LOGOUT are forwarded so the client sees the backend's real capabilities and server
///   identity; every capability list from the backend (untagged `* CAPABILITY` and `[CAPABILITY …]` codes) is
///   rewritten to advertise `STARTTLS LOGINDISABLED` and no `AUTH=`, which is what RFC 3501 asks of a server that
///   will not accept plaintext login. Everything that authenticates is refused here and never reaches the backend.
/// - Commands carrying literals are never forwarded: relaying a synchronising literal would need the backend's `+`
///   to travel to the client mid-command, and no forwarded command needs one. A `{n}` command is answered at
///   once (the client must then not send the literal, RFC 3501 §7.5); the octets of a `{n+}` literal are already
///   on their way, so they are skipped by count, never parsed as lines, then the rest of the command is read.
/// - Forwarded commands are tracked by tag; the STARTTLS answer waits until all of them have their tagged
///   backend reply, so no plaintext backend reply can be delivered after the TLS handshake.
public struct IMAPStartTLSDialogue: MailDialogue, Sendable {
    /// Longest client line accepted, CRLF included.
    public static let maxLineLength = 8192
    /// Largest non-synchronising literal skipped before TLS. Nothing legitimate sends large literals before
    /// login; RFC 7888 caps LITERAL- at 4096 octets.
    public static let maxLiteralLength = 65_536

    private enum ClientState: Sendable {
        case command
        /// Skipping a `{n+}` literal; `reply` answers the command once its last line is read.
        case literal(remaining: Int, reply: [UInt8])
        /// Reading the line that continues a command after a literal.
        case continuation(reply: [UInt8])
    }

    private enum BackendState: Sendable {
        /// The next backend line starts a new response.
        case responseStart
        /// Passing through literal octets inside a backend response.
        case literal(remaining: Int)
        /// The next backend line continues a response after a literal.
        case continuation
    }

    /// Awaiting an answer from the backend: the greeting, or a forwarded command's tagged reply.
    private enum Pending: Sendable, Equatable {
        case greeting
        case tagged([UInt8])
    }

    private var phase: StartTLSPhase = .dialogue
    private var client = LineReader(maxLineLength: IMAPStartTLSDialogue.maxLineLength)
    private var backend = LineReader(maxLineLength: maxBackendLineLength)
    private var clientState: ClientState = .command
    private var backendState: BackendState = .responseStart
    private var sequencer = ReplySequencer<Pending>()
    private var helloDetector = ClientHelloDetector()
    private var heldBackendBytes: [UInt8] = []

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
            if case .literal(let remaining, let reply) = clientState {
                let skipped = client.skip(upTo: remaining)
                if skipped < remaining {
                    clientState = .literal(remaining: remaining - skipped, reply: reply)
                    break
                }
                clientState = .continuation(reply: reply)
                continue
            }
            switch client.next() {
            case .needMoreData:
                return out
            case .overlong:
                return out + fatal("* BAD [TOOBIG] Line too long\r\n", reason: "client line too long")
            case .line(let line):
                out += handleClientLine(line)
            }
        }
        return out
    }

    private enum Decision {
        case forward(tag: [UInt8])
        case startTLS(tag: [UInt8])
        case reply([UInt8])
    }

    private mutating func handleClientLine(_ line: LineReader.Line) -> [DialogueAction] {
        let content = line.content
        let literal = IMAPLiteral.trailing(in: content)
        let reply: [UInt8]
        switch clientState {
        case .continuation(let pending):
            reply = pending
        case .command, .literal:
            switch decide(content) {
            case .forward(let tag) where literal == nil:
                return forward(line, tag: tag)
            case .startTLS(let tag) where literal == nil:
                return startTLS(tag: tag)
            case .forward(let tag), .startTLS(let tag):
                reply = tag + ascii(" BAD Literals not accepted before STARTTLS\r\n")
            case .reply(let answer):
                reply = answer
            }
        }
        guard let literal, !literal.synchronising else {
            // The command ends here (a synchronising literal is refused by answering instead of sending "+").
            clientState = .command
            return answer(reply)
        }
        guard literal.count <= Self.maxLiteralLength else {
            return fatal("* BAD [TOOBIG] Literal too large\r\n", reason: "client literal too large")
        }
        clientState = .literal(remaining: literal.count, reply: reply)
        return []
    }

    private func decide(_ content: ArraySlice<UInt8>) -> Decision {
        let (tag, rest) = splitFirstWord(content)
        guard Self.isValidTag(tag) else {
            return .reply(ascii("* BAD Missing or invalid tag\r\n"))
        }
        let tagBytes = Array(tag)
        if content.contains(0) {
            return .reply(tagBytes + ascii(" BAD NUL octet in command\r\n"))
        }
        guard let rest, !rest.isEmpty else {
            return .reply(tagBytes + ascii(" BAD Missing command\r\n"))
        }
        let (command, arguments) = splitFirstWord(rest)
        let hasArguments = !(arguments ?? []).isBlankASCII
        func noArguments(_ decision: Decision) -> Decision {
            hasArguments ? .reply(tagBytes + ascii(" BAD Unexpected arguments\r\n")) : decision
        }
        if command.asciiEqualsUppercase("CAPABILITY") || command.asciiEqualsUppercase("NOOP")
            || command.asciiEqualsUppercase("LOGOUT") {
            return noArguments(.forward(tag: tagBytes))
        }
        if command.asciiEqualsUppercase("ID") {
            return hasArguments ? .forward(tag: tagBytes) : .reply(tagBytes + ascii(" BAD Missing arguments\r\n"))
        }
        if command.asciiEqualsUppercase("STARTTLS") {
            return noArguments(.startTLS(tag: tagBytes))
        }
        if command.asciiEqualsUppercase("LOGIN") || command.asciiEqualsUppercase("AUTHENTICATE") {
            return .reply(tagBytes + ascii(" NO [PRIVACYREQUIRED] Plaintext authentication disallowed, use STARTTLS first\r\n"))
        }
        return .reply(tagBytes + ascii(" BAD Command not permitted before STARTTLS\r\n"))
    }

    /// RFC 3501 `tag = 1*<any ASTRING-CHAR except "+">`: printable ASCII without atom-specials other than "]".
    /// Checked before a tag is echoed so a reply can never carry control bytes chosen by the client.
    static func isValidTag(_ tag: ArraySlice<UInt8>) -> Bool {
        guard !tag.isEmpty else { return false }
        return tag.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && !tagExcluded.contains(byte)
        }
    }

    private static let tagExcluded: Set<UInt8> = Set("(){%*\"\\+".utf8)

    private mutating func forward(_ line: LineReader.Line, tag: [UInt8]) -> [DialogueAction] {
        guard sequencer.count < maxPendingCommands else { return tooManyPending() }
        sequencer.enqueueBackend(.tagged(tag))
        return [.sendToBackend(line.raw)]
    }

    private mutating func startTLS(tag: [UInt8]) -> [DialogueAction] {
        phase = .tlsRequested
        client.discardBuffered()
        return emit(sequencer.enqueueLocal([.sendToClient(tag + ascii(" OK Begin TLS negotiation now\r\n")), .startTLS]))
    }

    private mutating func answer(_ reply: [UInt8]) -> [DialogueAction] {
        guard sequencer.count < maxPendingCommands else { return tooManyPending() }
        return emit(sequencer.enqueueLocal([.sendToClient(reply)]))
    }

    private mutating func tooManyPending() -> [DialogueAction] {
        fatal("* BYE Too many pipelined commands\r\n", reason: "too many pipelined commands before STARTTLS")
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
            if case .literal(let remaining) = backendState {
                let chunk = backend.take(upTo: remaining)
                if !chunk.isEmpty { out.append(.sendToClient(chunk)) }
                if chunk.count < remaining {
                    backendState = .literal(remaining: remaining - chunk.count)
                    return out
                }
                backendState = .continuation
                continue
            }
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
        let startsResponse: Bool
        if case .responseStart = backendState { startsResponse = true } else { startsResponse = false }
        var out: [DialogueAction] = [.sendToClient(startsResponse ? Self.rewriteCapabilities(line) : line.raw)]
        if let literal = IMAPLiteral.trailing(in: line.content) {
            backendState = .literal(remaining: literal.count)
        } else {
            backendState = .responseStart
        }
        guard startsResponse else { return out }
        let (tag, _) = splitFirstWord(line.content)
        if sequencer.firstAwaiting == .greeting {
            out += emit(sequencer.completeBackend { $0 == .greeting })
        } else if !tag.elementsEqual([UInt8(ascii: "*")]) && !tag.elementsEqual([UInt8(ascii: "+")]) {
            let tagBytes = Array(tag)
            out += emit(sequencer.completeBackend { $0 == .tagged(tagBytes) })
        }
        return out
    }

    /// Rewrites `* CAPABILITY …` and any `[CAPABILITY …]` response code; other lines come back unchanged.
    static func rewriteCapabilities(_ line: LineReader.Line) -> [UInt8] {
        let content = line.content
        let terminator = Array(line.raw.suffix(line.terminatorLength))
        let untagged = ascii("* CAPABILITY")
        if content.asciiHasUppercasePrefix("* CAPABILITY"),
           content.count == untagged.count || content[content.startIndex + untagged.count] == UInt8(ascii: " ") {
            let list = content.dropFirst(untagged.count)
            return untagged + rewriteList(list) + terminator
        }
        let code = ascii("[CAPABILITY")
        var index = content.startIndex
        while index + code.count <= content.endIndex {
            if content[index..<(index + code.count)].asciiEqualsUppercase("[CAPABILITY"),
               let close = content[(index + code.count)...].firstIndex(of: UInt8(ascii: "]")) {
                let list = content[(index + code.count)..<close]
                return Array(content[..<index]) + code + rewriteList(list) + Array(content[close...]) + terminator
            }
            index += 1
        }
        return line.raw
    }

    /// Returns " tok tok … STARTTLS LOGINDISABLED" without AUTH=, STARTTLS or LOGINDISABLED from the backend.
    private static func rewriteList(_ list: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        for token in list.split(separator: UInt8(ascii: " ")) {
            if token.asciiHasUppercasePrefix("AUTH=") || token.asciiEqualsUppercase("STARTTLS")
                || token.asciiEqualsUppercase("LOGINDISABLED") {
                continue
            }
            out += [UInt8(ascii: " ")] + token
        }
        return out + ascii(" STARTTLS LOGINDISABLED")
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
            let rest = backend.takeBuffered()
            if !rest.isEmpty { out.append(.sendToClient(rest)) }
            if sequencer.firstAwaiting == .greeting, let reply = MailProtocol.imap.unavailableReply {
                out.append(.sendToClient(reply))
            }
            return out + close("backend closed the connection")
        }
    }

    // MARK: Helpers

    /// Notes when `.startTLS` actually leaves the dialogue, so later backend bytes are held, not parsed.
    private mutating func emit(_ actions: [DialogueAction]) -> [DialogueAction] {
        if actions.contains(.startTLS) { phase = .awaitingTLS }
        return actions
    }

    private mutating func fatal(_ reply: String, reason: String) -> [DialogueAction] {
        [.sendToClient(ascii(reply))] + close(reason)
    }

    private mutating func close(_ reason: String) -> [DialogueAction] {
        phase = .closed
        client.discardBuffered()
        backend.discardBuffered()
        return [.close(reason: reason)]
    }
}
