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
    enum Pending: StartTLSPending {
        case greeting
        case tagged([UInt8])
    }

    var core = StartTLSDialogueCore<Pending>(
        maxClientLineLength: IMAPStartTLSDialogue.maxLineLength,
        wording: StartTLSWording(
            lineTooLong: "* BAD [TOOBIG] Line too long\r\n",
            tooManyCommands: "* BYE Too many pipelined commands\r\n",
            tooManyCommandsReason: "too many pipelined commands before STARTTLS",
            unrequestedTLSReason: "TLS established without a STARTTLS request",
            mailProtocol: .imap))
    private var clientState: ClientState = .command
    private var backendState: BackendState = .responseStart

    public init() {}

    // MARK: MailDialogue

    public mutating func receiveFromClient(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        receiveClientBytes(bytes)
    }

    public mutating func receiveFromBackend(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        receiveBackendBytes(bytes)
    }

    public mutating func tlsEstablished() -> [DialogueAction] {
        core.tlsEstablished()
    }

    public mutating func backendClosed() -> [DialogueAction] {
        core.backendClosed()
    }

    // MARK: Client side

    /// Skips the octets of a `{n+}` literal; false while more are expected.
    mutating func skipClientNonLineBytes() -> Bool {
        guard case .literal(let remaining, let reply) = clientState else { return true }
        let skipped = core.skipClientBytes(upTo: remaining)
        if skipped < remaining {
            clientState = .literal(remaining: remaining - skipped, reply: reply)
            return false
        }
        clientState = .continuation(reply: reply)
        return true
    }

    private enum Decision {
        case forward(tag: [UInt8])
        case startTLS(tag: [UInt8])
        case reply([UInt8])
    }

    mutating func handleClientLine(_ line: LineReader.Line) -> [DialogueAction] {
        let content = line.content
        let literal = IMAPLiteral.trailing(in: content)
        let reply: [UInt8]
        switch clientState {
        case .continuation(let pending):
            reply = pending
        case .command, .literal:
            switch decide(content) {
            case .forward(let tag) where literal == nil:
                return core.forward(line, awaiting: .tagged(tag))
            case .startTLS(let tag) where literal == nil:
                return core.acceptStartTLS(reply: tag + ascii(" OK Begin TLS negotiation now\r\n"))
            case .forward(let tag), .startTLS(let tag):
                reply = tag + ascii(" BAD Literals not accepted before STARTTLS\r\n")
            case .reply(let answer):
                reply = answer
            }
        }
        guard let literal, !literal.synchronising else {
            // The command ends here (a synchronising literal is refused by answering instead of sending "+").
            clientState = .command
            return core.answer(reply)
        }
        guard literal.count <= Self.maxLiteralLength else {
            return core.fatal("* BAD [TOOBIG] Literal too large\r\n", reason: "client literal too large")
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

    // MARK: Backend side

    /// Passes on the octets of a literal inside a backend response; false while more are expected.
    mutating func passBackendNonLineBytes(into out: inout [DialogueAction]) -> Bool {
        guard case .literal(let remaining) = backendState else { return true }
        let chunk = core.takeBackendBytes(upTo: remaining)
        if !chunk.isEmpty { out.append(.sendToClient(chunk)) }
        if chunk.count < remaining {
            backendState = .literal(remaining: remaining - chunk.count)
            return false
        }
        backendState = .continuation
        return true
    }

    mutating func handleBackendLine(_ line: LineReader.Line) -> [DialogueAction] {
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
        if core.firstAwaiting == .greeting {
            out += core.completeBackend { $0 == .greeting }
        } else if !tag.elementsEqual([UInt8(ascii: "*")]) && !tag.elementsEqual([UInt8(ascii: "+")]) {
            let tagBytes = Array(tag)
            out += core.completeBackend { $0 == .tagged(tagBytes) }
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
}

extension IMAPStartTLSDialogue: StartTLSDialogueHooks {}
