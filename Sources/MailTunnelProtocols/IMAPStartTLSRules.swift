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
public typealias IMAPStartTLSDialogue = StartTLSDialogue<IMAPStartTLSRules>

extension StartTLSDialogue where Rules == IMAPStartTLSRules {
    /// Largest non-synchronising literal skipped before TLS.
    public static var maxLiteralLength: Int { Rules.maxLiteralLength }
}

/// IMAP's commands, responses, literals and capability rewriting for `IMAPStartTLSDialogue`.
public struct IMAPStartTLSRules: StartTLSRules {
    /// Longest client line accepted, CRLF included.
    public static let maxLineLength = 8192
    public static let startTLSVerb = "STARTTLS"
    public static let wording = StartTLSWording(
        lineTooLong: "* BAD [TOOBIG] Line too long\r\n",
        tooManyCommands: "* BYE Too many pipelined commands\r\n",
        unrequestedTLSReason: "TLS established without a STARTTLS request",
        mailProtocol: .imap)
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
    public enum Pending: StartTLSPending {
        case greeting
        case tagged([UInt8])
    }

    private var clientState: ClientState = .command
    private var backendState: BackendState = .responseStart

    public init() {}

    // MARK: Client side

    /// The octets of a `{n+}` literal are skipped unread.
    public var clientOctetsBeforeNextLine: Int? {
        guard case .literal(let remaining, _) = clientState else { return nil }
        return remaining
    }

    public mutating func clientOctetsSkipped(_ count: Int) {
        guard case .literal(let remaining, let reply) = clientState else { return }
        clientState = count < remaining ? .literal(remaining: remaining - count, reply: reply) : .continuation(reply: reply)
    }

    private enum Decision {
        case forward(tag: [UInt8])
        case startTLS(tag: [UInt8])
        case reply([UInt8])
    }

    public mutating func command(_ line: LineReader.Line) -> StartTLSCommandVerdict<Pending> {
        let content = line.content
        let literal = IMAPLiteral.trailing(in: content)
        let reply: [UInt8]
        switch clientState {
        case .continuation(let pending):
            reply = pending
        case .command, .literal:
            switch decide(content) {
            case .forward(let tag) where literal == nil:
                return .forward(awaiting: .tagged(tag))
            case .startTLS(let tag) where literal == nil:
                return .startTLS(reply: tag + ascii(" OK Begin TLS negotiation now\r\n"))
            case .forward(let tag), .startTLS(let tag):
                reply = tag + ascii(" BAD Literals not accepted before STARTTLS\r\n")
            case .reply(let answer):
                reply = answer
            }
        }
        guard let literal, !literal.synchronising else {
            // The command ends here (a synchronising literal is refused by answering instead of sending "+").
            clientState = .command
            return .answer(reply)
        }
        guard literal.count <= Self.maxLiteralLength else {
            return .fatal(reply: ascii("* BAD [TOOBIG] Literal too large\r\n"), reason: "client literal too large")
        }
        clientState = .literal(remaining: literal.count, reply: reply)
        return .incomplete
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
        if command.asciiEqualsUppercase(Self.startTLSVerb) {
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

    /// The octets of a literal inside a backend response are passed on untouched.
    public var backendOctetsBeforeNextLine: Int? {
        guard case .literal(let remaining) = backendState else { return nil }
        return remaining
    }

    public mutating func backendOctetsPassed(_ count: Int) {
        guard case .literal(let remaining) = backendState else { return }
        backendState = count < remaining ? .literal(remaining: remaining - count) : .continuation
    }

    public mutating func reply(_ line: LineReader.Line, awaiting: Pending?) -> StartTLSReplyVerdict<Pending> {
        let startsResponse: Bool
        if case .responseStart = backendState { startsResponse = true } else { startsResponse = false }
        let sent = startsResponse ? Self.rewriteCapabilities(line) : line.raw
        if let literal = IMAPLiteral.trailing(in: line.content) {
            backendState = .literal(remaining: literal.count)
        } else {
            backendState = .responseStart
        }
        guard startsResponse else { return .pass([sent], completing: nil) }
        let (tag, _) = splitFirstWord(line.content)
        if awaiting == .greeting {
            return .pass([sent], completing: .greeting)
        } else if !tag.elementsEqual([UInt8(ascii: "*")]) && !tag.elementsEqual([UInt8(ascii: "+")]) {
            return .pass([sent], completing: .tagged(Array(tag)))
        }
        return .pass([sent], completing: nil)
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
