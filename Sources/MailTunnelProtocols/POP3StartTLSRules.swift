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
public typealias POP3StartTLSDialogue = StartTLSDialogue<POP3StartTLSRules>

/// POP3's commands, replies and CAPA rewriting for `POP3StartTLSDialogue`.
public struct POP3StartTLSRules: StartTLSRules {
    /// Longest client line accepted, CRLF included.
    public static let maxLineLength = 4096
    public static let startTLSVerb = "STLS"
    public static let wording = StartTLSWording(
        lineTooLong: "-ERR Line too long\r\n",
        tooManyCommands: "-ERR Too many pipelined commands\r\n",
        unrequestedTLSReason: "TLS established without an STLS request",
        mailProtocol: .pop3)

    /// What ends the backend reply a queue entry is waiting for.
    public enum Pending: StartTLSPending {
        case greeting
        /// One status line.
        case singleLine
        /// CAPA: a status line, then for +OK a list ending in ".".
        case capability
    }

    /// Inside the multi-line body of a CAPA reply.
    private var inCapabilityList = false

    public init() {}

    // MARK: Client side

    public func command(_ line: LineReader.Line) -> StartTLSCommandVerdict<Pending> {
        let content = line.content
        if content.contains(0) {
            return .answer(ascii("-ERR NUL octet in command\r\n"))
        }
        let (keyword, arguments) = splitFirstWord(content)
        let hasArguments = !(arguments ?? []).isBlankASCII
        if keyword.asciiEqualsUppercase("CAPA") {
            return .forward(awaiting: .capability)
        }
        if keyword.asciiEqualsUppercase("NOOP") || keyword.asciiEqualsUppercase("QUIT") {
            return .forward(awaiting: .singleLine)
        }
        if keyword.asciiEqualsUppercase(Self.startTLSVerb) {
            if hasArguments { return .answer(ascii("-ERR STLS takes no arguments\r\n")) }
            return .startTLS(reply: ascii("+OK Begin TLS negotiation\r\n"))
        }
        for refused in ["USER", "PASS", "APOP", "AUTH"] where keyword.asciiEqualsUppercase(refused) {
            return .answer(ascii("-ERR [AUTH] Must issue STLS first\r\n"))
        }
        return .answer(ascii("-ERR Command not permitted before STLS\r\n"))
    }

    // MARK: Backend side

    public mutating func reply(_ line: LineReader.Line, awaiting: Pending?) -> StartTLSReplyVerdict<Pending> {
        guard let awaiting else {
            return .pass([line.raw], completing: nil)  // unsolicited (e.g. a timeout notice): pass it on
        }
        switch awaiting {
        case .greeting, .singleLine:
            return .pass([line.raw], completing: awaiting)
        case .capability where !inCapabilityList:
            if line.content.asciiHasUppercasePrefix("+OK") {
                inCapabilityList = true
                return .pass([line.raw], completing: nil)
            }
            return .pass([line.raw], completing: awaiting)
        case .capability:
            if line.content.elementsEqual([UInt8(ascii: ".")]) {
                inCapabilityList = false
                return .pass([ascii("STLS\r\n"), line.raw], completing: awaiting)
            }
            let (keyword, _) = splitFirstWord(line.content)
            if keyword.asciiEqualsUppercase("USER") || keyword.asciiEqualsUppercase("SASL")
                || keyword.asciiEqualsUppercase("STLS") {
                return .pass([], completing: nil)
            }
            return .pass([line.raw], completing: nil)
        }
    }
}
