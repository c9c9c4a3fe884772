/// The guard's command classifier: decides each client line by its first token, as early as that allows.
///
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
extension SMTPRelayGuard {
    /// Every verb whose first bytes make a line start worth holding.
    static let watchedVerbs = deniedVerbs + ["DATA", "BDAT", "EHLO", "HELO"]

    /// The watched verbs plus those the session's policy checks.
    var watchedVerbs: [String] {
        Self.watchedVerbs + (policy.sender != nil ? ["MAIL"] : []) + (policy.recipients != nil ? ["RCPT"] : [])
    }

    /// Runs `bytes` through the state machine, appending what may go to the backend.
    mutating func consume(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
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
            case .bdatLine, .policyLine:
                // A line decided only once it is complete: collected whole, up to its limit.
                let collecting = state
                let byte = bytes[index]
                index += 1
                lineHead.append(byte)
                if byte == Self.lf {
                    let line = lineHead
                    startLine()
                    if case .policyLine(let verb) = collecting {
                        handlePolicyLine(line, verb, into: &out)
                    } else {
                        handleBDAT(line, into: &out)
                    }
                } else if case .policyLine = collecting, lineHead.count >= Self.maxPolicyLineLength {
                    deny()
                } else if case .bdatLine = collecting, lineHead.count >= Self.maxBDATLineLength {
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
    mutating func classify(lastByte byte: UInt8, into out: inout [UInt8]) {
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
            if let verb = checkedVerb(token) {
                startPolicyLine(verb, lastByte: byte, start: start)
                return
            }
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
        if watchedVerbs.contains(where: { word in
            token.count <= word.utf8.count && word.utf8.prefix(token.count).elementsEqual(token.lazy.map(\.asciiUppercased))
        }) {
            return
        }
        passRestOfLine(.plain, lastByte: byte, into: &out)
    }

    /// Forwards the held line start; the rest of the line streams through.
    mutating func passRestOfLine(_ kind: CommandKind, lastByte: UInt8, into out: inout [UInt8]) {
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
    mutating func deny() {
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        state = .denying
    }

    /// A command line has been forwarded (or its denial): its reply is owed.
    mutating func endCommand(_ kind: CommandKind) {
        startLine()
        if case .data = kind { state = .holding(.dataReply) }
        expect(kind)
    }

    mutating func startLine() {
        lineHead.removeAll(keepingCapacity: true)
        tokenStart = nil
        state = .lineHead
    }

    mutating func hold(_ bytes: ArraySlice<UInt8>) {
        guard held.count + bytes.count <= Self.maxHeldClientBytes else {
            fail("client sent more than \(Self.maxHeldClientBytes) bytes while a reply was awaited")
            return
        }
        held.append(contentsOf: bytes)
    }

    mutating func fail(_ reason: String) {
        if failure == nil { failure = reason }
        held = []
        lineHead = []
        clientBound = []
    }
}
