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
public typealias SMTPStartTLSDialogue = StartTLSDialogue<SMTPStartTLSRules>

/// SMTP's commands, replies and EHLO rewriting for `SMTPStartTLSDialogue`.
public struct SMTPStartTLSRules: StartTLSRules {
    /// RFC 5321 §4.5.3.1.4: 512 octets including CRLF.
    public static let maxLineLength = 512
    public static let startTLSVerb = "STARTTLS"
    public static let wording = StartTLSWording(
        lineTooLong: "500 5.5.6 Line too long\r\n",
        tooManyCommands: "421 4.7.0 Too many pipelined commands\r\n",
        unrequestedTLSReason: "TLS established without a STARTTLS request",
        mailProtocol: .smtp)

    /// What the queue entry is waiting for; all end at a reply's last line.
    public enum Pending: StartTLSPending {
        case greeting
        /// The EHLO reply, collected and rewritten.
        case ehlo
        /// Any other reply, streamed through.
        case plain
        /// The reply to HELO, streamed through; it leaves no extensions offered.
        case helo
    }

    /// Lines of an EHLO reply not yet complete.
    private var ehloLines: [LineReader.Line] = []
    private var ehloBytes = 0
    /// `starttls = optional`: the rules a client that stays in plaintext sends mail under; nil: TLS required.
    private var plaintextPolicy: SMTPTransactionPolicy?
    /// What the backend's latest EHLO reply offered, for the guard of a plaintext session.
    private var extensions = SMTPExtensions.none

    public init() {}

    /// `starttls = optional` with the policy for a client that never upgrades (nil when such a client may not
    /// send mail at all: MAIL then gets 530 as with `starttls = yes`).
    public init(plaintextPolicy: SMTPTransactionPolicy?) {
        self.plaintextPolicy = plaintextPolicy
    }

    public func plaintextRelayFilter() -> (any RelayFilter)? {
        plaintextPolicy.map { SMTPRelayGuard(extensions: extensions, policy: $0) }
    }

    public var unsentReplyBytes: [UInt8] { ehloLines.flatMap(\.raw) }

    // MARK: Client side

    public func command(_ line: LineReader.Line) -> StartTLSCommandVerdict<Pending> {
        let content = line.content
        if content.contains(0) {
            return .answer(ascii("500 5.5.2 Syntax error, NUL octet in command\r\n"))
        }
        let (verb, arguments) = splitFirstWord(content)
        if verb.isEmpty {
            return .answer(ascii("500 5.5.2 Syntax error, command unrecognized\r\n"))
        }
        if verb.asciiEqualsUppercase("EHLO") {
            return .forward(awaiting: .ehlo)
        }
        if verb.asciiEqualsUppercase("HELO") {
            return .forward(awaiting: .helo)
        }
        // starttls = optional: a client that stays in plaintext may send mail; AUTH still needs TLS.
        if plaintextPolicy != nil, verb.asciiEqualsUppercase("MAIL") {
            return .relayWithoutTLS
        }
        for forwarded in ["NOOP", "RSET", "QUIT"] where verb.asciiEqualsUppercase(forwarded) {
            return .forward(awaiting: .plain)
        }
        if verb.asciiEqualsUppercase(Self.startTLSVerb) {
            if !(arguments ?? []).isBlankASCII { return .answer(ascii("501 5.5.4 Syntax error\r\n")) }
            return .startTLS(reply: ascii("220 2.0.0 Ready to start TLS\r\n"))
        }
        for refused in ["AUTH", "MAIL", "RCPT", "DATA", "BDAT", "VRFY", "EXPN", "ETRN"]
        where verb.asciiEqualsUppercase(refused) {
            return .answer(ascii("530 5.7.0 Must issue a STARTTLS command first\r\n"))
        }
        return .answer(ascii("502 5.5.1 Command not available before STARTTLS\r\n"))
    }

    // MARK: Backend side

    /// RFC 5321 §4.2.1: every line but the last has "-" after the code.
    static func isLastLine(of content: ArraySlice<UInt8>) -> Bool {
        content.count < 4 || content[content.startIndex + 3] != UInt8(ascii: "-")
    }

    public mutating func reply(_ line: LineReader.Line, awaiting: Pending?) -> StartTLSReplyVerdict<Pending> {
        let last = Self.isLastLine(of: line.content)
        switch awaiting {
        case nil:
            return .pass([line.raw], completing: nil)  // unsolicited (e.g. 421 on timeout): pass it on
        case .greeting?, .plain?:
            return .pass([line.raw], completing: last ? awaiting : nil)
        case .helo?:
            extensions = .none
            return .pass([line.raw], completing: last ? awaiting : nil)
        case .ehlo?:
            ehloBytes += line.raw.count
            guard ehloBytes <= maxBackendLineLength else { return .close(reason: "backend EHLO reply too long") }
            ehloLines.append(line)
            guard last else { return .pass([], completing: nil) }
            let reply = Self.rewriteEHLOReply(ehloLines)
            let code = Int(String(decoding: ehloLines[0].content.prefix(3), as: UTF8.self)) ?? 0
            extensions = SMTPExtensions(ehloReply: SMTPRawReply(code: code, lines: ehloLines))
            ehloLines = []
            ehloBytes = 0
            return .pass([reply], completing: awaiting)
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
}
