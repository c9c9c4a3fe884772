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
    enum Pending: StartTLSPending {
        case greeting
        /// One status line.
        case singleLine
        /// CAPA: a status line, then for +OK a list ending in ".".
        case capability
    }

    var core = StartTLSDialogueCore<Pending>(
        maxClientLineLength: POP3StartTLSDialogue.maxLineLength,
        wording: StartTLSWording(
            lineTooLong: "-ERR Line too long\r\n",
            tooManyCommands: "-ERR Too many pipelined commands\r\n",
            tooManyCommandsReason: "too many pipelined commands before STLS",
            unrequestedTLSReason: "TLS established without an STLS request",
            mailProtocol: .pop3))
    /// Inside the multi-line body of a CAPA reply.
    private var inCapabilityList = false

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

    mutating func handleClientLine(_ line: LineReader.Line) -> [DialogueAction] {
        let content = line.content
        if content.contains(0) {
            return core.answer("-ERR NUL octet in command\r\n")
        }
        let (keyword, arguments) = splitFirstWord(content)
        let hasArguments = !(arguments ?? []).isBlankASCII
        if keyword.asciiEqualsUppercase("CAPA") {
            return core.forward(line, awaiting: .capability)
        }
        if keyword.asciiEqualsUppercase("NOOP") || keyword.asciiEqualsUppercase("QUIT") {
            return core.forward(line, awaiting: .singleLine)
        }
        if keyword.asciiEqualsUppercase("STLS") {
            if hasArguments { return core.answer("-ERR STLS takes no arguments\r\n") }
            return core.acceptStartTLS(reply: ascii("+OK Begin TLS negotiation\r\n"))
        }
        for refused in ["USER", "PASS", "APOP", "AUTH"] where keyword.asciiEqualsUppercase(refused) {
            return core.answer("-ERR [AUTH] Must issue STLS first\r\n")
        }
        return core.answer("-ERR Command not permitted before STLS\r\n")
    }

    // MARK: Backend side

    mutating func handleBackendLine(_ line: LineReader.Line) -> [DialogueAction] {
        guard let pending = core.firstAwaiting else {
            return [.sendToClient(line.raw)]  // unsolicited (e.g. a timeout notice): pass it on
        }
        switch pending {
        case .greeting, .singleLine:
            return [.sendToClient(line.raw)] + core.completeBackend()
        case .capability where !inCapabilityList:
            if line.content.asciiHasUppercasePrefix("+OK") {
                inCapabilityList = true
                return [.sendToClient(line.raw)]
            }
            return [.sendToClient(line.raw)] + core.completeBackend()
        case .capability:
            if line.content.elementsEqual([UInt8(ascii: ".")]) {
                inCapabilityList = false
                return [.sendToClient(ascii("STLS\r\n")), .sendToClient(line.raw)] + core.completeBackend()
            }
            let (keyword, _) = splitFirstWord(line.content)
            if keyword.asciiEqualsUppercase("USER") || keyword.asciiEqualsUppercase("SASL")
                || keyword.asciiEqualsUppercase("STLS") {
                return []
            }
            return [.sendToClient(line.raw)]
        }
    }
}

extension POP3StartTLSDialogue: StartTLSDialogueHooks {}
