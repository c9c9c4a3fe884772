#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
/// Design choices (each errs on the side where a disagreement with the backend costs availability, never authority):
/// - Lines end at LF, a CR before it being part of the terminator, as Postfix's `smtp_get` reads them. We never
///   split at a bare CR: no MTA does for commands, and doing so would let one line mean different things to us
///   and to the backend.
/// - Denied verbs: a line whose first token (after skipping leading bytes ≤ 0x20) *starts with* `XCLIENT`,
///   `XFORWARD` or `STARTTLS` (ASCII case-insensitive). Prefix matching is deliberately broader than the
///   backend's exact verb match: `XCLIENTX` is unknown to every MTA anyway, so denying it changes nothing, while
///   any narrower rule risks missing a spelling some backend accepts. STARTTLS is denied because a TLS session
///   negotiated *with the backend* through the tunnel would hide every later command from this guard; RFC 3207
///   forbids a second STARTTLS inside TLS anyway, so no correct client is affected.
/// - Denial: the whole line (however long) is replaced by `X-MAILTUNNEL-DENIED\r\n` at its LF. It is a
///   well-formed, single command that no MTA implements (Postfix: `502 5.5.2 Error: command not recognized`,
///   Exim/Sendmail: `500`), so the backend answers it exactly once, in order, and the client's pipelined reply
///   stream stays aligned. The name does not start with a denied verb, so even a backend that matched verbs by
///   prefix would not run it, and it shows up plainly in the backend's log.
/// - Hidden extensions: in every 250 reply, lines after the first whose keyword is a denied verb are dropped
///   (`SMTPRawReply.removingExtensions`), so the client's EHLO reply never offers what it may not use. Every other
///   byte is passed on as received; only the separator of a new last line changes. Applied to every 250 reply,
///   not only to those we attribute to EHLO, so a miscount can never leak an offer.
/// - Streaming: only the start of a line is held, and only until its first token decides it. `MAIL`, `RCPT` and
///   everything else is passed on as soon as its first byte rules out every watched verb; nothing waits for a
///   full line, so long lines (12 KiB SASL responses) cost no buffering. A line whose leading blanks alone pass
///   `maxLineHeadBytes` is denied: no command looks like that, and passing it on undecided is not safe.
/// - `DATA`: any line whose first token is `DATA` (whatever follows) is forwarded, then further client input is
///   held until the backend's reply to it. The reply, not our parse, decides: only `354` starts message content.
///   So a `DATA` the backend tokenises differently can only make us hold needlessly, never pass content unseen.
/// - End of message content: at a line start (right after 354 or after an LF), `.` followed by any number of CR
///   and then LF. That is exactly what Postfix accepts (it strips every CR before the LF) and a superset of what
///   stricter backends accept (`CRLF.CRLF` only). Recognising more endings than the backend could only make us
///   rewrite message text or wait for a reply that never comes; recognising fewer would let `\n.\nXCLIENT …`
///   smuggle a command past us. Legitimate clients send CRLF and dot-stuff, so they never hit the difference.
/// - What the backend offered: the reply to each line whose token is `EHLO` replaces `extensions` (a reply other
///   than 250 offers nothing), the reply to `HELO` clears them. The guard started after the gate's EHLO replay
///   is given that reply's extensions; any other starts with none, so a client must send EHLO (as RFC 3030 and
///   RFC 3207 require anyway) before BDAT can pass.
/// - `BDAT n [LAST]` (RFC 3030): the backend replies only after the chunk, so there is no reply to wait for. Only
///   the canonical form `BDAT SP digits [SP LAST]` (single spaces, CRLF or LF, at most 18 digits) is considered;
///   any other line whose token is `BDAT` is denied, so both sides read the following bytes as commands. For a
///   canonical line, if a reply to an earlier EHLO/HELO is still outstanding, client input is held until it is
///   in. Then: when the backend offered CHUNKING, the line is forwarded and the next n bytes pass untouched (a
///   backend that offers CHUNKING consumes the chunk even of a BDAT it rejects, as RFC 3030 requires and Postfix
///   does). When it did not, neither the line nor the n chunk bytes ever reach the backend: the guard discards
///   the chunk (as a CHUNKING server discards a refused one, so the client's view stays aligned) and answers
///   `bdatRefusal` itself, in its place among the pipelined replies. Answering rather than closing keeps a
///   confused client's session usable; the bytes are gone either way.
/// - Reply order: each forwarded command line, denial and end of message content owes one reply; a queue records
///   what each answers (runs of alike entries merged, so a flood of NOOPs costs one entry), and the guard's own
///   BDAT refusals sit in it and are released to the client when every earlier backend reply has passed.
///   `SMTPRawReplyReader` assembles multi-line replies, so they count once. A reply with nothing outstanding (a
///   421 before the backend closes) is passed on and otherwise ignored. A malformed reply makes counting
///   impossible, so it sets `failure`. A partial reply still held when the backend closes is dropped.
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
    /// Every verb whose first bytes make a line start worth holding.
    private static let watchedVerbs = deniedVerbs + ["DATA", "BDAT", "EHLO", "HELO"]
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
    public private(set) var failure: String?

    /// Replies the backend still owes for what has been forwarded.
    public private(set) var outstandingReplies = 0

    /// What the backend offered in the reply to the latest EHLO/HELO it has answered.
    public private(set) var extensions: SMTPExtensions

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

    private enum DataScan: Sendable {
        /// Inside a content line.
        case midLine
        /// At the start of a line: a `.` here may begin the end-of-data line.
        case lineStart
        /// Seen `.` (and possibly CRs) at a line start: an LF now ends the content.
        case dotLine
    }

    /// What a forwarded command line is, as far as its reply matters.
    private enum CommandKind: Sendable { case plain, data, ehlo, helo }

    /// Which reply client input waits for.
    private enum Hold: Sendable {
        /// The reply to DATA: 354 or not.
        case dataReply
        /// Every reply to an EHLO/HELO sent before the BDAT line that starts the held input.
        case helloReplies
    }

    private enum State: Sendable {
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
    }

    /// One outstanding answer, in the order the client will receive them.
    private enum Expected: Sendable {
        /// Backend replies to commands whose reply needs no attention.
        case plain(count: Int)
        case data, ehlo, helo
        /// The guard's own BDAT refusals, due once every earlier entry is answered.
        case refusedBDAT(count: Int)
    }

    private var state: State = .lineHead
    /// Held bytes of the current command line (only in `.lineHead` and `.bdatLine`).
    private var lineHead: [UInt8] = []
    /// Index in `lineHead` where the first token starts, once a non-blank byte has arrived.
    private var tokenStart: Int?
    /// Client bytes that arrived while a reply was awaited.
    private var held: [UInt8] = []
    private var expected: [Expected] = []
    private var expectedHead = 0
    /// Replies to EHLO/HELO still in `expected`.
    private var helloRepliesPending = 0
    /// Bytes due to the client, in order: passed-on replies and the guard's own.
    private var clientBound: [UInt8] = []
    private var replies = SMTPRawReplyReader()

    /// - Parameters:
    ///   - awaitingGreeting: the session is relayed from its start, so the backend's greeting comes first.
    ///   - extensions: what the backend's latest EHLO reply offered, when a dialogue already saw it.
    public init(awaitingGreeting: Bool = false, extensions: SMTPExtensions = .none) {
        self.extensions = extensions
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
        case .lineHead, .passing, .denying, .bdatLine, .holding, .discarding:
            return 0
        }
    }

    /// Runs `bytes` through the state machine, appending what may go to the backend.
    private mutating func consume(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var index = bytes.startIndex
        while index < bytes.endIndex, failure == nil {
            switch state {
            case .holding:
                hold(bytes[index...])
                return
            case .data(let scan):
                let (end, after) = Self.scanContent(bytes[index...], from: scan)
                let stop = end ?? bytes.endIndex
                out.append(contentsOf: bytes[index..<stop])
                index = stop
                if end != nil {
                    expect(.plain)  // the reply to the whole message
                    startLine()
                } else {
                    state = .data(after)
                }
            case .chunk(let remaining):
                let count = min(remaining, bytes.endIndex - index)
                out.append(contentsOf: bytes[index..<(index + count)])
                index += count
                if count == remaining { startLine() } else { state = .chunk(remaining: remaining - count) }
            case .discarding(let remaining):
                let count = min(remaining, bytes.endIndex - index)
                index += count
                if count == remaining { startLine() } else { state = .discarding(remaining: remaining - count) }
            case .passing(let kind):
                let lf = Self.firstLF(in: bytes[index...])
                let stop = lf.map { $0 + 1 } ?? bytes.endIndex
                out.append(contentsOf: bytes[index..<stop])
                index = stop
                if lf != nil { endCommand(kind) }
            case .denying:
                guard let lf = Self.firstLF(in: bytes[index...]) else { return }
                index = lf + 1
                out.append(contentsOf: Self.deniedCommand)
                endCommand(.plain)
            case .bdatLine:
                let byte = bytes[index]
                index += 1
                lineHead.append(byte)
                if byte == Self.lf {
                    let line = lineHead
                    startLine()
                    handleBDAT(line, into: &out)
                } else if lineHead.count >= Self.maxBDATLineLength {
                    deny()
                }
            case .lineHead:
                let byte = bytes[index]
                index += 1
                lineHead.append(byte)
                classify(lastByte: byte, into: &out)
            }
        }
    }

    /// A complete line whose token is `BDAT`: forward it, refuse it, or wait until the backend has said whether
    /// it offers CHUNKING.
    private mutating func handleBDAT(_ line: [UInt8], into out: inout [UInt8]) {
        guard let size = Self.parseBDAT(line) else {
            out.append(contentsOf: Self.deniedCommand)
            expect(.plain)
            return
        }
        if helloRepliesPending > 0 {
            // Re-read from the start once the replies are in; nothing behind it may pass before.
            state = .holding(.helloReplies)
            hold(line[...])
        } else if extensions.chunking {
            out.append(contentsOf: line)
            expect(.plain)
            if size > 0 { state = .chunk(remaining: size) }
        } else {
            refuseBDAT()
            if size > 0 { state = .discarding(remaining: size) }
        }
    }

    /// Decides the current line once its first token allows: deny, collect (BDAT), or pass the rest on.
    private mutating func classify(lastByte byte: UInt8, into out: inout [UInt8]) {
        let isBlank = byte <= 0x20  // SP, HT, CR, other controls: never part of a verb
        guard let start = tokenStart else {
            if byte == Self.lf {
                out.append(contentsOf: lineHead)  // a blank line: the backend answers it with a syntax error
                endCommand(.plain)
            } else if !isBlank {
                tokenStart = lineHead.count - 1
            } else if lineHead.count >= Self.maxLineHeadBytes {
                deny()
            }
            return
        }
        let token = isBlank ? lineHead[start..<(lineHead.count - 1)] : lineHead[start...]
        if Self.deniedVerbs.contains(where: { token.asciiHasUppercasePrefix($0) }) {
            if byte == Self.lf {
                out.append(contentsOf: Self.deniedCommand)
                endCommand(.plain)
            } else {
                deny()
            }
            return
        }
        if isBlank {
            // The token is complete.
            if token.asciiEqualsUppercase("BDAT") {
                if byte == Self.lf {
                    out.append(contentsOf: Self.deniedCommand)  // BDAT without a size
                    endCommand(.plain)
                } else {
                    state = .bdatLine
                }
                return
            }
            let kind: CommandKind = token.asciiEqualsUppercase("DATA") ? .data
                : token.asciiEqualsUppercase("EHLO") ? .ehlo : token.asciiEqualsUppercase("HELO") ? .helo : .plain
            passRestOfLine(kind, lastByte: byte, into: &out)
            return
        }
        // Still a possible prefix of something watched (or all of a verb, which only a blank confirms)? Then keep
        // holding.
        if Self.watchedVerbs.contains(where: { word in
            token.count <= word.utf8.count && word.utf8.prefix(token.count).elementsEqual(token.lazy.map(\.asciiUppercased))
        }) {
            return
        }
        passRestOfLine(.plain, lastByte: byte, into: &out)
    }

    /// Forwards the held line start; the rest of the line streams through.
    private mutating func passRestOfLine(_ kind: CommandKind, lastByte: UInt8, into out: inout [UInt8]) {
        out.append(contentsOf: lineHead)
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        if lastByte == Self.lf {
            endCommand(kind)
        } else {
            state = .passing(kind)
        }
    }

    /// The current line is denied; what is held of it is dropped.
    private mutating func deny() {
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        state = .denying
    }

    /// A command line has been forwarded (or its denial): its reply is owed.
    private mutating func endCommand(_ kind: CommandKind) {
        startLine()
        if case .data = kind { state = .holding(.dataReply) }
        expect(kind)
    }

    private mutating func startLine() {
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        state = .lineHead
    }

    private mutating func hold(_ bytes: ArraySlice<UInt8>) {
        guard held.count + bytes.count <= Self.maxHeldClientBytes else {
            fail("client sent more than \(Self.maxHeldClientBytes) bytes while a reply was awaited")
            return
        }
        held.append(contentsOf: bytes)
    }

    private mutating func fail(_ reason: String) {
        if failure == nil { failure = reason }
        held = []
        lineHead = []
        clientBound = []
    }

    // MARK: Reply order

    /// The backend owes a reply to a command of this kind.
    private mutating func expect(_ kind: CommandKind) {
        outstandingReplies += 1
        switch kind {
        case .plain:
            if expected.count > expectedHead, case .plain(let count) = expected[expected.count - 1] {
                expected[expected.count - 1] = .plain(count: count + 1)
            } else {
                expected.append(.plain(count: 1))
            }
        case .data: expected.append(.data)
        case .ehlo: expected.append(.ehlo); helloRepliesPending += 1
        case .helo: expected.append(.helo); helloRepliesPending += 1
        }
    }

    /// Answers a BDAT itself: at once if the backend owes nothing, else after the replies before it.
    private mutating func refuseBDAT() {
        guard expected.count > expectedHead else {
            clientBound += Self.bdatRefusal
            return
        }
        if case .refusedBDAT(let count) = expected[expected.count - 1] {
            expected[expected.count - 1] = .refusedBDAT(count: count + 1)
        } else {
            expected.append(.refusedBDAT(count: 1))
        }
    }

    /// Takes the entry a backend reply answers (nil if none is owed), then releases the guard's own replies behind it.
    private mutating func takeExpected() -> Expected? {
        guard expected.count > expectedHead else { return nil }
        var entry = expected[expectedHead]
        if case .plain(let count) = entry, count > 1 {
            expected[expectedHead] = .plain(count: count - 1)
            entry = .plain(count: 1)
        } else {
            expectedHead += 1
        }
        while expected.count > expectedHead, case .refusedBDAT(let count) = expected[expectedHead] {
            for _ in 0..<count { clientBound += Self.bdatRefusal }
            expectedHead += 1
        }
        if expectedHead == expected.count {
            expected.removeAll(keepingCapacity: true)
            expectedHead = 0
        } else if expectedHead > 64, expectedHead * 2 > expected.count {
            expected.removeFirst(expectedHead)
            expectedHead = 0
        }
        outstandingReplies -= 1
        return entry
    }

    // MARK: Backend side

    /// Backend bytes in; what to write to the client (the replies, trust extensions hidden, and the guard's own)
    /// and to the backend (client input a reply released) out.
    public mutating func fromBackend(_ bytes: ArraySlice<UInt8>) -> BackendOutput {
        guard failure == nil else { return BackendOutput() }
        replies.append(bytes)
        var out = BackendOutput()
        while failure == nil {
            switch replies.next() {
            case .needMore:
                out.toClient = takeClientReplies()
                return out
            case .invalid(let reason):
                fail("backend reply cannot be followed: \(reason)")
            case .reply(let reply):
                clientBound += reply.code == 250 ? reply.removingExtensions(Self.deniedVerbs) : reply.bytes
                handleReply(reply, into: &out.toBackend)
            }
        }
        return BackendOutput()
    }

    private mutating func handleReply(_ reply: SMTPRawReply, into out: inout [UInt8]) {
        switch takeExpected() {
        case nil, .plain?, .refusedBDAT?:
            return  // nil: unsolicited, e.g. 421 before the backend closes
        case .ehlo?:
            extensions = SMTPExtensions(ehloReply: reply)
            helloAnswered(into: &out)
        case .helo?:
            extensions = .none
            helloAnswered(into: &out)
        case .data?:
            guard case .holding(.dataReply) = state else { return }
            state = reply.code == 354 ? .data(.lineStart) : .lineHead
            release(into: &out)
        }
    }

    private mutating func helloAnswered(into out: inout [UInt8]) {
        helloRepliesPending -= 1
        guard helloRepliesPending == 0, case .holding(.helloReplies) = state else { return }
        state = .lineHead
        release(into: &out)
    }

    /// Runs the held client input through the state machine again, now that the reply it waited for is in.
    private mutating func release(into out: inout [UInt8]) {
        let released = held
        held = []
        consume(released[...], into: &out)
    }

    // MARK: Scanning

    private static let lf = UInt8(ascii: "\n")
    private static let cr = UInt8(ascii: "\r")
    private static let dot = UInt8(ascii: ".")

    /// Index of the first LF in `bytes`.
    private static func firstLF(in bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress, !buffer.isEmpty,
                  let found = memchr(base, Int32(lf), buffer.count) else { return nil }
            return bytes.startIndex + (UnsafeRawPointer(found) - UnsafeRawPointer(base))
        }
    }

    /// Scans message content for the end-of-data line. Returns the index just past its LF (nil when the content
    /// continues past `bytes`) and the scan state at the end of `bytes`.
    private static func scanContent(_ bytes: ArraySlice<UInt8>, from start: DataScan) -> (end: Int?, state: DataScan) {
        bytes.withUnsafeBufferPointer { buffer in
            let (offset, after) = scanContent(buffer, from: start)
            return (offset.map { bytes.startIndex + $0 }, after)
        }
    }

    /// The same over raw memory; the returned end is an offset into `buffer`.
    private static func scanContent(_ buffer: UnsafeBufferPointer<UInt8>, from start: DataScan) -> (end: Int?, state: DataScan) {
        guard let base = buffer.baseAddress else { return (nil, start) }
        let count = buffer.count
        var scan = start
        var i = 0
        while i < count {
            switch scan {
            case .midLine:
                // Tight path: memchr to the next LF; nothing else inside a line matters.
                guard let found = memchr(base + i, Int32(lf), count - i) else { return (nil, .midLine) }
                i = (UnsafeRawPointer(found) - UnsafeRawPointer(base)) + 1
                scan = .lineStart
            case .lineStart:
                if base[i] == dot {
                    scan = .dotLine
                    i += 1
                } else {
                    scan = .midLine
                }
            case .dotLine:
                let byte = base[i]
                if byte == lf { return (i + 1, .lineStart) }
                if byte == cr {
                    i += 1  // `.` CR* LF: Postfix strips every CR before the LF
                } else {
                    scan = .midLine  // `..` (dot-stuffed) or `.text`: content
                }
            }
        }
        return (nil, scan)
    }

    /// The chunk size of a canonical `BDAT SP digits [SP LAST]` line (CRLF or LF), else nil.
    private static func parseBDAT(_ line: [UInt8]) -> Int? {
        var content = line[...].dropLast()  // the LF
        if content.last == cr { content = content.dropLast() }
        guard content.asciiHasUppercasePrefix("BDAT ") else { return nil }
        var rest = content.dropFirst(5)
        if rest.count > 5, rest.suffix(5).asciiEqualsUppercase(" LAST") { rest = rest.dropLast(5) }
        guard !rest.isEmpty, rest.count <= 18,
              rest.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return rest.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
