/// Watches every SMTP session mailtunnel relays, so the client can never speak with mailtunnel's authority: a
/// backend often trusts mailtunnel's address for `XCLIENT`/`XFORWARD` (`smtpd_authorized_xclient_hosts`, commonly
/// 127.0.0.1 whether or not `xclient = yes`), and a byte-for-byte relay would let the client send its own.
///
/// The principle: every client byte is a command unless the backend has confirmed, by its reply, that it reads
/// those bytes as data (354 to DATA; CHUNKING in its latest EHLO reply for BDAT).
///
/// Pure state machine, no I/O. The engine:
/// - passes every client read through `passThroughPrefix` (bytes it may write on directly) and `fromClient` (the
///   rest) and writes the results to the backend; then writes `takeClientReplies()` (the guard's own answers) to the
///   client;
/// - passes every backend read through `fromBackend` and writes its `toClient` to the client and its `toBackend`
///   (client input held earlier, now released) to the backend;
/// - stops reading the client while `isHoldingClientInput` is true;
/// - closes the session (421 to the client) as soon as `failure` is set; from then on the guard lets nothing through.
///
/// Design choices (each errs on the side where a disagreement with the backend costs availability, never authority;
/// the command classifier, the content and BDAT scanner and the reply follower state theirs in their own files,
/// SMTPRelayGuard+Commands.swift, +Content.swift and +Replies.swift):
/// - Memory: the line head (≤ `maxLineHeadBytes`), a BDAT line (≤ `maxBDATLineLength`), one reply being assembled
///   (≤ 100 lines of 1 KiB), and while a DATA or EHLO reply is awaited the client bytes that had already arrived.
///   With the engine honouring `isHoldingClientInput` that is the rest of one read; should more arrive,
///   `maxHeldClientBytes` caps it and sets `failure` rather than grow.
/// - Throughput: in message content the guard runs `memchr` for LF and looks at the few bytes after each one.
///   `fromClient` copies content once, into the returned array; `passThroughPrefix` lets the engine write
///   content and BDAT chunks straight from its read buffer without any copy.
/// - Integration: the guard must see every client byte sent after the dialogue that preceded it, including the
///   command the gate forwards and whatever the client had pipelined behind it; a guard for a session relayed from
///   its start (`awaitingGreeting`) owes the greeting first. On client EOF, pass the half-close on only once
///   `isHoldingClientInput` is false; a partial line still held then cannot be a command and is dropped.
public struct SMTPRelayGuard: Sendable {
    /// What a denied command line is replaced with.
    public static let deniedCommand: [UInt8] = Array("X-MAILTUNNEL-DENIED\r\n".utf8)
    /// Verbs a client may never send through the tunnel (matched as a prefix of the first token).
    public static let deniedVerbs = ["XCLIENT", "XFORWARD", "STARTTLS"]
    /// The guard's own answer to a BDAT the backend did not offer CHUNKING for.
    public static let bdatRefusal: [UInt8] = Array("502 5.5.1 Error: BDAT not offered\r\n".utf8)
    /// Most bytes of a line start held while its first token is undecided.
    public static let maxLineHeadBytes = 4096
    /// Longest BDAT line forwarded, terminator included (RFC 5321 §4.5.3.1.4 command line limit).
    public static let maxBDATLineLength = 512
    /// Most client bytes held while a reply is awaited. With backpressure the engine hands over at most the gate's
    /// pipelined leftovers (≤ 32 KiB) or one 16 KiB read behind a DATA or BDAT line; this leaves room for both.
    public static let maxHeldClientBytes = 65_536

    /// What `fromBackend` asks the engine to write.
    public struct BackendOutput: Equatable, Sendable {
        /// The backend's replies (trust extensions hidden) and the guard's own, in order.
        public var toClient: [UInt8] = []
        /// Client input held earlier and now released; to be written before anything `fromClient` returns later.
        public var toBackend: [UInt8] = []
    }

    /// Why the session can no longer be guarded; the engine must close it. Sticky.
    public internal(set) var failure: String?

    /// Replies the backend still owes for what has been forwarded.
    public internal(set) var outstandingReplies = 0

    /// What the backend offered in the reply to the latest EHLO/HELO it has answered.
    public internal(set) var extensions: SMTPExtensions

    /// True while a reply that decides what the next client bytes are is awaited: stop reading the client.
    public var isHoldingClientInput: Bool {
        if case .holding = state { return failure == nil }
        return false
    }

    /// True while client bytes are message content (after 354, before the end-of-data line).
    public var isInMessageContent: Bool {
        if case .data = state { return true }
        return false
    }

    enum DataScan: Sendable {
        /// Inside a content line.
        case midLine
        /// At the start of a line: a `.` here may begin the end-of-data line.
        case lineStart
        /// Seen `.` (and possibly CRs) at a line start: an LF now ends the content.
        case dotLine
    }

    /// What a forwarded command line is, as far as its reply matters.
    enum CommandKind: Sendable { case plain, data, ehlo, helo }

    /// Which reply client input waits for.
    enum Hold: Sendable {
        /// The reply to DATA: 354 or not.
        case dataReply
        /// Every reply to an EHLO/HELO sent before the BDAT line that starts the held input.
        case helloReplies
    }

    enum State: Sendable {
        /// At or near the start of a command line; its first bytes are in `lineHead`.
        case lineHead
        /// Forwarding the rest of a command line up to its LF.
        case passing(CommandKind)
        /// Swallowing the rest of a denied line; the denial is emitted at its LF.
        case denying
        /// Collecting a BDAT line in `lineHead` up to its LF.
        case bdatLine
        /// Client input goes to `held` until the reply arrives.
        case holding(Hold)
        /// Message content after 354.
        case data(DataScan)
        /// BDAT chunk octets still to pass.
        case chunk(remaining: Int)
        /// Octets of a refused BDAT chunk still to drop.
        case discarding(remaining: Int)
        /// Collecting a MAIL or RCPT line the session's policy checks, in `lineHead` up to its LF.
        case policyLine(SMTPPathVerb)
    }

    /// One outstanding answer, in the order the client will receive them.
    enum Expected: Sendable {
        /// Backend replies to commands whose reply needs no attention.
        case plain(count: Int)
        case data, ehlo, helo
        /// The guard's own BDAT refusals, due once every earlier entry is answered.
        case refusedBDAT(count: Int)
        /// The guard's own answer to a line its policy refused, due likewise.
        case own([UInt8])
    }

    var state: State = .lineHead
    /// Held bytes of the current command line (only in `.lineHead` and `.bdatLine`).
    var lineHead: [UInt8] = []
    /// Index in `lineHead` where the first token starts, once a non-blank byte has arrived.
    var tokenStart: Int?
    /// Client bytes that arrived while a reply was awaited.
    var held: [UInt8] = []
    var expected: [Expected] = []
    var expectedHead = 0
    /// Replies to EHLO/HELO still in `expected`.
    var helloRepliesPending = 0
    /// Bytes due to the client, in order: passed-on replies and the guard's own.
    var clientBound: [UInt8] = []
    var replies = SMTPRawReplyReader()
    /// Which MAIL and RCPT lines are checked (SMTPRelayGuard+Policy.swift); `.open` checks none.
    public let policy: SMTPTransactionPolicy

    /// - Parameters:
    ///   - awaitingGreeting: the session is relayed from its start, so the backend's greeting comes first.
    ///   - extensions: what the backend's latest EHLO reply offered, when a dialogue already saw it.
    ///   - policy: the relay rules for this session's client.
    public init(awaitingGreeting: Bool = false, extensions: SMTPExtensions = .none, policy: SMTPTransactionPolicy = .open) {
        self.extensions = extensions
        self.policy = policy
        if awaitingGreeting { expect(.plain) }
    }

    // MARK: Client side

    /// Client bytes in; the bytes to write to the backend now out. While `isHoldingClientInput`, input is kept.
    public mutating func fromClient(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        guard failure == nil else { return [] }
        if case .holding = state {
            hold(bytes)
            return []
        }
        // The common bulk case: the whole read is message content. Scan, then copy once.
        if case .data(let scan) = state {
            let (end, after) = Self.scanContent(bytes, from: scan)
            if end == nil {
                state = .data(after)
                return Array(bytes)
            }
        }
        var out: [UInt8] = []
        consume(bytes, into: &out)
        return out
    }

    /// The guard's own replies now due to the client (BDAT refusals), to be written after everything before.
    public mutating func takeClientReplies() -> [UInt8] {
        defer { clientBound = [] }
        return clientBound
    }

    /// Zero-copy path for the engine's read buffer: how many leading bytes of `bytes` are message content or BDAT
    /// chunk octets (the end-of-data line included) and may be written to the backend exactly as they are. The
    /// guard has accounted for them; the rest, if any, goes through `fromClient`. Returns 0 in command mode.
    public mutating func passThroughPrefix(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard failure == nil else { return 0 }
        switch state {
        case .data(let scan):
            let (end, after) = Self.scanContent(bytes.bindMemory(to: UInt8.self), from: scan)
            guard let end else {
                state = .data(after)
                return bytes.count
            }
            expect(.plain)  // the reply to the whole message
            startLine()
            return end
        case .chunk(let remaining):
            let count = min(remaining, bytes.count)
            if count == remaining { startLine() } else { state = .chunk(remaining: remaining - count) }
            return count
        case .lineHead, .passing, .denying, .bdatLine, .holding, .discarding, .policyLine:
            return 0
        }
    }
}

extension SMTPRelayGuard {
    /// Client bytes a dialogue held until it handed the session over, through the guard: the actions that send
    /// what may reach the backend, then the guard's own replies.
    mutating func admit(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        let out = fromClient(bytes)
        let replies = takeClientReplies()
        return (out.isEmpty ? [] : [.sendToBackend(out)]) + (replies.isEmpty ? [] : [.sendToClient(replies)])
    }
}
