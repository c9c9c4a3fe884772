import MailTunnelProtocols

/// A model of the backend behind the SMTP relay guard, reading what the guard lets through the way Postfix's
/// smtpd does, and answering like a server. It is the oracle of the guard's invariant: every line it reads as a
/// command is checked, and none may have XCLIENT, XFORWARD or STARTTLS as the start of its first token
/// (case-insensitive; Postfix skips leading blanks and splits on blanks).
///
/// How it reads (Postfix smtpd):
/// - commands: lines up to LF, trailing CRs stripped; a line longer than `lineLimit` is cut and the rest of it
///   skipped (smtp_get with SMTP_GET_FLAG_SKIP), so the whole line is one command;
/// - `DATA` with `acceptData`: 354, then message content until a line that is `.` followed only by CRs; then
///   250. Without `acceptData`: 554, and the next line is a command again;
/// - `BDAT n [LAST]` when it offered CHUNKING: the next n bytes are chunk content whatever they hold, then 250.
///   Without CHUNKING, BDAT is an unknown command (502) and what follows is read as commands;
/// - `EHLO`: a multi-line 250 offering CHUNKING when `offerChunking`; anything else: 250.
public struct ModelBackend {
    public static let deniedVerbs = ["XCLIENT", "XFORWARD", "STARTTLS"]
    public let offerChunking: Bool
    public let acceptData: Bool
    public let lineLimit = 2048

    enum Mode { case command, data, chunk(Int) }
    var mode = Mode.command
    var line: [UInt8] = []
    /// Replies written but not yet delivered to the guard.
    public var pendingReplies: [UInt8] = []
    /// Reading message content after 354.
    public var isReadingData: Bool { if case .data = mode { true } else { false } }
    /// Commands read so far (for the harness's own checks).
    public private(set) var commands = 0

    /// The guard runs the local-domains policy for example.org: every RCPT read must be for it (issue 13).
    public let localOnly: Bool

    public init(offerChunking: Bool, acceptData: Bool, greet: Bool, localOnly: Bool = false) {
        self.offerChunking = offerChunking
        self.acceptData = acceptData
        self.localOnly = localOnly
        if greet { pendingReplies += Array("220 model ESMTP\r\n".utf8) }
    }

    /// Bytes the guard wrote to the backend.
    public mutating func receive(_ bytes: [UInt8]) {
        var index = 0
        while index < bytes.count {
            if case .chunk(let remaining) = mode {
                let count = min(remaining, bytes.count - index)
                index += count
                if count == remaining {
                    mode = .command
                    reply("250 2.0.0 chunk\r\n")
                } else {
                    mode = .chunk(remaining - count)
                }
                continue
            }
            let byte = bytes[index]
            index += 1
            if byte != 0x0A {
                line.append(byte)
                continue
            }
            var content = line[...]
            line = []
            while content.last == 0x0D { content = content.dropLast() }
            switch mode {
            case .data:
                if content.elementsEqual([0x2E]) {
                    mode = .command
                    reply("250 2.0.0 queued\r\n")
                }
            case .command:
                command(content.prefix(lineLimit))
            case .chunk:
                break  // handled above
            }
        }
    }

    mutating func command(_ content: ArraySlice<UInt8>) {
        commands += 1
        let words = content.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { String(decoding: $0, as: UTF8.self) }
        let verb = words.first?.uppercased() ?? ""
        for denied in Self.deniedVerbs where verb.hasPrefix(denied) {
            violation("the backend read a \(denied) command", content)
        }
        if localOnly && verb == "RCPT" { checkLocalRecipient(content) }
        switch verb {
        case "EHLO":
            reply(offerChunking ? "250-model\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"
                                : "250-model\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        case "HELO":
            reply("250 model\r\n")
        case "DATA":
            if acceptData {
                mode = .data
                reply("354 End data with <CR><LF>.<CR><LF>\r\n")
            } else {
                reply("554 5.5.1 Error: no valid recipients\r\n")
            }
        case "BDAT" where offerChunking:
            if words.count >= 2, words[1].allSatisfy(\.isASCII), let size = Int(words[1]), size >= 0 {
                if size > 0 { mode = .chunk(size) } else { reply("250 2.0.0 chunk\r\n") }
            } else {
                reply("501 5.5.4 Syntax: BDAT count [LAST]\r\n")
            }
        case "":
            reply("500 5.5.2 Error: bad syntax\r\n")
        default:
            reply(verb.hasPrefix("X-MAILTUNNEL") || verb == "BDAT" ? "502 5.5.2 Error: command not recognized\r\n"
                                                                   : "250 2.0.0 Ok\r\n")
        }
    }

    mutating func reply(_ text: String) { pendingReplies += Array(text.utf8) }

    /// Reads a RCPT the lenient way (Postfix with strict_rfc821_envelopes = no): the first word after `TO:`, its
    /// angle brackets dropped; the domain after its last `@`. It must be example.org, and the local part must hold
    /// no percent hack, bang path, route or second `@`.
    func checkLocalRecipient(_ content: ArraySlice<UInt8>) {
        let text = String(decoding: content, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return }  // no address: the backend refuses it
        let word = text[text.index(after: colon)...].drop { $0 == " " || $0 == "\t" }.prefix { $0 != " " && $0 != "\t" }
        let address = word.trimmingPrefix("<").prefix { $0 != ">" }
        guard let at = address.lastIndex(of: "@") else {
            if address.lowercased() != "postmaster" { violation("the backend read a RCPT without a domain", content) }
            return
        }
        var domain = address[address.index(after: at)...].lowercased()
        if domain.hasSuffix(".") { domain.removeLast() }
        let local = address[..<at]
        if domain != "example.org" || local.contains(where: { "%!@:,".contains($0) }) {
            violation("the backend read a RCPT for another domain", content)
        }
    }

    public mutating func takeReplies(upTo count: Int) -> [UInt8] {
        let taken = Array(pendingReplies.prefix(count))
        pendingReplies.removeFirst(taken.count)
        return taken
    }
}

/// Drives an `SMTPRelayGuard` the way the engine does (a client read goes through `passThroughPrefix`, the rest
/// through `filterClientBytes`; no client read while the guard holds its input; backend replies delivered in
/// pieces), with `ModelBackend` behind it checking every command it reads, and, whenever every reply is in and
/// no input is held, that the guard is in message content exactly when the backend is.
///
/// Input: one flags byte (bit 0: the backend offers CHUNKING, bit 1: it accepts DATA, bit 2: the guard starts
/// before the greeting, bit 3: the guard runs the local-domains policy for example.org), then records: header byte 0 or 2, length byte, that many client bytes (one client read);
/// header 1 and a count byte: deliver that many of the model's pending reply bytes (the model, not the fuzzer,
/// decides what the backend says); header 3: deliver everything pending.
public func runRelayGuard(_ input: inout FuzzInput) {
    let flags = input.byte()
    let localOnly = flags & 8 != 0
    var backend = ModelBackend(offerChunking: flags & 1 != 0, acceptData: flags & 2 != 0, greet: flags & 4 != 0,
                               localOnly: localOnly)
    let policy = localOnly ? SMTPTransactionPolicy(recipients: try? LocalDomains(["example.org"])) : .open
    var guardian = SMTPRelayGuard(awaitingGreeting: flags & 4 != 0,
                                  extensions: SMTPExtensions(chunking: flags & 1 != 0 && flags & 4 == 0), policy: policy)
    if flags & 4 == 0 { _ = backend.takeReplies(upTo: .max) }  // a dialogue already saw EHLO's reply
    var toClient: [UInt8] = []

    func deliver(_ count: Int) {
        let replies = backend.takeReplies(upTo: count)
        guard !replies.isEmpty else { return }
        let out = guardian.filterBackendBytes(replies[...])
        toClient += out.toClient
        backend.receive(out.toBackend)
    }

    while guardian.endReason == nil, !input.isAtEnd {
        let header = input.byte()
        let step: SessionStep
        switch header & 3 {
        case 1: step = .backend(ArraySlice(repeating: 0, count: Int(input.byte())))  // only its length counts
        case 3: step = .backendClosed
        default: step = .client(input.take(Int(input.byte())))
        }
        switch step {
        case .client(let bytes):
            if guardian.isHoldingClientInput {
                deliver(Int.max)  // the engine waits for the reply first
                if guardian.isHoldingClientInput { continue }
            }
            let direct = Array(bytes).withUnsafeBytes { guardian.passThroughPrefix($0) }
            if direct < 0 || direct > bytes.count { violation("passThroughPrefix returned \(direct) of \(bytes.count)") }
            backend.receive(Array(bytes.prefix(direct)))
            let out = guardian.filterClientBytes(bytes.dropFirst(direct))
            backend.receive(out.toBackend)
            toClient += out.toClient
            // Data phases end where the backend's reader ends them: once every reply is in and nothing is held,
            // the guard is in message content exactly when the backend is.
            if guardian.endReason == nil, backend.pendingReplies.isEmpty, !guardian.isHoldingClientInput,
               guardian.isInMessageContent != backend.isReadingData {
                violation("guard in message content: \(guardian.isInMessageContent), backend: \(backend.isReadingData)")
            }
        case .backend(let bytes):
            deliver(bytes.count)
        case .tlsEstablished, .backendClosed:
            deliver(Int.max)
        }
    }
    if toClient.count > 1 << 24 { violation("runaway client output") }
}
