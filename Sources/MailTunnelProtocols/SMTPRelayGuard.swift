#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Watches an SMTP session that mailtunnel relays after the auth gate's XCLIENT hand-over, so the client can never
/// speak with mailtunnel's authority: the backend trusts mailtunnel's address for `XCLIENT`/`XFORWARD`
/// (`smtpd_authorized_xclient_hosts`), and a byte-for-byte relay would let the client send its own.
///
/// Pure state machine, no I/O. The engine:
/// - passes every client read through `fromClient` and writes the result to the backend;
/// - passes every backend read through `fromBackend` (forwarding the backend's bytes to the client unchanged
///   itself) and writes what `fromBackend` returns to the backend: client input held earlier, now released;
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
/// - `BDAT n [LAST]` (RFC 3030): the backend replies only after the chunk, so there is no reply to wait for; the
///   next n bytes pass untouched. Because we must then agree with the backend on n exactly, only the canonical
///   form `BDAT SP digits [SP LAST]` (single spaces, CRLF or LF, at most 18 digits) is forwarded; any other line
///   whose token is `BDAT` is denied, so both sides read the following bytes as commands. This relies on the
///   backend consuming the chunk of a BDAT it rejects (RFC 3030 requires it; Postfix does); a backend that
///   answers BDAT with "command unknown" and then reads the chunk as commands must not be used with `xclient`.
/// - Reply counting: every command line, every `BDAT` line and every end of message content gets exactly one
///   reply; `SMTPReplyReader` assembles multi-line replies, so they count once. The guard is created after the
///   hand-over with nothing outstanding. A reply with nothing outstanding (a 421 before the backend closes) is
///   ignored. A malformed reply makes counting impossible, so it sets `failure`.
/// - Memory: the line head (≤ `maxLineHeadBytes`), a BDAT line (≤ `maxBDATLineLength`), and while a DATA reply
///   is awaited the client bytes that had already arrived behind the DATA line. With the engine honouring
///   `isHoldingClientInput` that is the rest of one read; should more arrive, `maxHeldClientBytes` caps it and
///   sets `failure` rather than grow.
/// - Throughput: in message content the guard runs `memchr` for LF and looks at the few bytes after each one.
///   `fromClient` copies content once, into the returned array; `passThroughPrefix` lets the engine write
///   content and BDAT chunks straight from its read buffer without any copy.
/// - Integration: the guard must see every client byte sent after the hand-over, including the command the gate
///   forwards and whatever the client had pipelined behind it. On client EOF, pass the half-close on only once
///   `isHoldingClientInput` is false; a partial line still held then cannot be a command and is dropped.
///
/// Not `Sendable` only because `SMTPReplyReader` is not declared so (it is a plain value type; marking it
/// `Sendable` in SMTPReply.swift would let this struct follow). Like the dialogues, it lives inside one session.
public struct SMTPRelayGuard {
    /// What a denied command line is replaced with.
    public static let deniedCommand: [UInt8] = Array("X-MAILTUNNEL-DENIED\r\n".utf8)
    /// Verbs a client may never send through the tunnel (matched as a prefix of the first token).
    public static let deniedVerbs = ["XCLIENT", "XFORWARD", "STARTTLS"]
    /// Every verb whose first bytes make a line start worth holding.
    private static let watchedVerbs = deniedVerbs + ["DATA", "BDAT"]
    /// Most bytes of a line start held while its first token is undecided.
    public static let maxLineHeadBytes = 4096
    /// Longest BDAT line forwarded, terminator included (RFC 5321 §4.5.3.1.4 command line limit).
    public static let maxBDATLineLength = 512
    /// Most client bytes held while the reply to DATA is awaited. With backpressure the engine hands over at most
    /// the gate's pipelined leftovers (≤ 32 KiB) or one 16 KiB read behind a DATA line; this leaves room for both.
    public static let maxHeldClientBytes = 65_536

    /// Why the session can no longer be guarded; the engine must close it. Sticky.
    public private(set) var failure: String?

    /// Replies the backend still owes for what has been forwarded.
    public private(set) var outstandingReplies = 0

    /// True while the reply to DATA is awaited: the engine should stop reading the client.
    public var isHoldingClientInput: Bool {
        if case .awaitingDataReply = state { return failure == nil }
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

    private enum State: Sendable {
        /// At or near the start of a command line; its first bytes are in `lineHead`.
        case lineHead
        /// Forwarding the rest of a command line up to its LF; `isData` when its verb was DATA.
        case passing(isData: Bool)
        /// Swallowing the rest of a denied line; the denial is emitted at its LF.
        case denying
        /// Collecting a BDAT line in `lineHead` up to its LF.
        case bdatLine
        /// DATA forwarded; `repliesBefore` replies to earlier commands still precede its own.
        case awaitingDataReply(repliesBefore: Int)
        /// Message content after 354.
        case data(DataScan)
        /// BDAT chunk octets still to pass.
        case chunk(remaining: Int)
    }

    private var state: State = .lineHead
    /// Held bytes of the current command line (only in `.lineHead` and `.bdatLine`).
    private var lineHead: [UInt8] = []
    /// Index in `lineHead` where the first token starts, once a non-blank byte has arrived.
    private var tokenStart: Int?
    /// Client bytes that arrived while the DATA reply was awaited.
    private var held: [UInt8] = []
    private var replies = SMTPReplyReader()

    public init() {}

    // MARK: Client side

    /// Client bytes in; the bytes to write to the backend now out. While `isHoldingClientInput`, input is kept.
    public mutating func fromClient(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        guard failure == nil else { return [] }
        if case .awaitingDataReply = state {
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
            outstandingReplies += 1  // the reply to the whole message
            startLine()
            return end
        case .chunk(let remaining):
            let count = min(remaining, bytes.count)
            if count == remaining { startLine() } else { state = .chunk(remaining: remaining - count) }
            return count
        case .lineHead, .passing, .denying, .bdatLine, .awaitingDataReply:
            return 0
        }
    }

    /// Runs `bytes` through the state machine, appending what may go to the backend.
    private mutating func consume(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var index = bytes.startIndex
        while index < bytes.endIndex, failure == nil {
            switch state {
            case .awaitingDataReply:
                hold(bytes[index...])
                return
            case .data(let scan):
                let (end, after) = Self.scanContent(bytes[index...], from: scan)
                let stop = end ?? bytes.endIndex
                out.append(contentsOf: bytes[index..<stop])
                index = stop
                if end != nil {
                    outstandingReplies += 1  // the reply to the whole message
                    startLine()
                } else {
                    state = .data(after)
                }
            case .chunk(let remaining):
                let count = min(remaining, bytes.endIndex - index)
                out.append(contentsOf: bytes[index..<(index + count)])
                index += count
                if count == remaining { startLine() } else { state = .chunk(remaining: remaining - count) }
            case .passing(let isData):
                let lf = Self.firstLF(in: bytes[index...])
                let stop = lf.map { $0 + 1 } ?? bytes.endIndex
                out.append(contentsOf: bytes[index..<stop])
                index = stop
                if lf != nil { endCommand(isData: isData) }
            case .denying:
                guard let lf = Self.firstLF(in: bytes[index...]) else { return }
                index = lf + 1
                out.append(contentsOf: Self.deniedCommand)
                endCommand(isData: false)
            case .bdatLine:
                let byte = bytes[index]
                index += 1
                lineHead.append(byte)
                if byte == Self.lf {
                    let line = lineHead
                    startLine()
                    if let size = Self.parseBDAT(line) {
                        out.append(contentsOf: line)
                        outstandingReplies += 1
                        if size > 0 { state = .chunk(remaining: size) }
                    } else {
                        out.append(contentsOf: Self.deniedCommand)
                        outstandingReplies += 1
                    }
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

    /// Decides the current line once its first token allows: deny, collect (BDAT), or pass the rest on.
    private mutating func classify(lastByte byte: UInt8, into out: inout [UInt8]) {
        let isBlank = byte <= 0x20  // SP, HT, CR, other controls: never part of a verb
        guard let start = tokenStart else {
            if byte == Self.lf {
                out.append(contentsOf: lineHead)  // a blank line: the backend answers it with a syntax error
                endCommand(isData: false)
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
                endCommand(isData: false)
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
                    endCommand(isData: false)
                } else {
                    state = .bdatLine
                }
                return
            }
            passRestOfLine(isData: token.asciiEqualsUppercase("DATA"), lastByte: byte, into: &out)
            return
        }
        // Still a possible prefix of something watched (or all of `DATA`/`BDAT`, which only a blank confirms)?
        // Then keep holding.
        if Self.watchedVerbs.contains(where: { word in
            token.count <= word.utf8.count && word.utf8.prefix(token.count).elementsEqual(token.lazy.map(\.asciiUppercased))
        }) {
            return
        }
        passRestOfLine(isData: false, lastByte: byte, into: &out)
    }

    /// Forwards the held line start; the rest of the line streams through.
    private mutating func passRestOfLine(isData: Bool, lastByte: UInt8, into out: inout [UInt8]) {
        out.append(contentsOf: lineHead)
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        if lastByte == Self.lf {
            endCommand(isData: isData)
        } else {
            state = .passing(isData: isData)
        }
    }

    /// The current line is denied; what is held of it is dropped.
    private mutating func deny() {
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        state = .denying
    }

    /// A command line has been forwarded (or its denial): one more reply is owed.
    private mutating func endCommand(isData: Bool) {
        startLine()
        if isData {
            state = .awaitingDataReply(repliesBefore: outstandingReplies)
        }
        outstandingReplies += 1
    }

    private mutating func startLine() {
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        state = .lineHead
    }

    private mutating func hold(_ bytes: ArraySlice<UInt8>) {
        guard held.count + bytes.count <= Self.maxHeldClientBytes else {
            fail("client sent more than \(Self.maxHeldClientBytes) bytes while the reply to DATA was awaited")
            return
        }
        held.append(contentsOf: bytes)
    }

    private mutating func fail(_ reason: String) {
        if failure == nil { failure = reason }
        held = []
        lineHead = []
    }

    // MARK: Backend side

    /// Backend bytes in (the engine forwards them to the client itself); client bytes released by a reply out,
    /// to be written to the backend now, before anything `fromClient` returns later.
    public mutating func fromBackend(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        guard failure == nil else { return [] }
        replies.append(bytes)
        var out: [UInt8] = []
        while failure == nil {
            switch replies.next() {
            case .needMore:
                return out
            case .invalid(let reason):
                fail("backend reply cannot be followed: \(reason)")
                return []
            case .reply(let reply):
                handleReply(code: reply.code, into: &out)
            }
        }
        return []
    }

    private mutating func handleReply(code: Int, into out: inout [UInt8]) {
        guard outstandingReplies > 0 else { return }  // unsolicited, e.g. 421 before the backend closes
        outstandingReplies -= 1
        guard case .awaitingDataReply(let before) = state else { return }
        if before > 0 {
            state = .awaitingDataReply(repliesBefore: before - 1)
            return
        }
        // The reply to DATA itself.
        state = code == 354 ? .data(.lineStart) : .lineHead
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
