/// The guard's reply follower: which reply answers which command, what the backend offered, and the guard's own
/// BDAT refusals in their place among the replies.
///
/// - Hidden extensions: in every 250 reply, lines after the first whose keyword is a denied verb are dropped
///   (`SMTPRawReply.removingExtensions`), so the client's EHLO reply never offers what it may not use. Every other
///   byte is passed on as received; only the separator of a new last line changes. Applied to every 250 reply,
///   not only to those we attribute to EHLO, so a miscount can never leak an offer.
/// - What the backend offered: the reply to each line whose token is `EHLO` replaces `extensions` (a reply other
///   than 250 offers nothing), the reply to `HELO` clears them. The guard started after the gate's EHLO replay
///   is given that reply's extensions; any other starts with none, so a client must send EHLO (as RFC 3030 and
///   RFC 3207 require anyway) before BDAT can pass.
/// - Reply order: each forwarded command line, denial and end of message content owes one reply; a queue records
///   what each answers (runs of alike entries merged, so a flood of NOOPs costs one entry), and the guard's own
///   BDAT refusals sit in it and are released to the client when every earlier backend reply has passed.
///   `SMTPRawReplyReader` assembles multi-line replies, so they count once. A reply with nothing outstanding (a
///   421 before the backend closes) is passed on and otherwise ignored. A malformed reply makes counting
///   impossible, so it sets `failure`. A partial reply still held when the backend closes is dropped.
extension SMTPRelayGuard {
    // MARK: Reply order

    /// The backend owes a reply to a command of this kind.
    mutating func expect(_ kind: CommandKind) {
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

    /// The guard's own reply to a refused line: at once if the backend owes nothing, else after the replies before it.
    mutating func answerOwn(_ reply: [UInt8]) {
        guard expected.count > expectedHead else {
            clientBound += reply
            return
        }
        // Refusals queue behind a slow reply; a client pipelining refused lines without end must not grow memory.
        guard expected.count - expectedHead < Self.maxQueuedAnswers else {
            fail("client pipelined more than \(Self.maxQueuedAnswers) commands ahead of the backend's replies")
            return
        }
        expected.append(.own(reply))
    }

    /// Answers a BDAT itself: at once if the backend owes nothing, else after the replies before it.
    mutating func refuseBDAT() {
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
    mutating func takeExpected() -> Expected? {
        guard expected.count > expectedHead else { return nil }
        var entry = expected[expectedHead]
        if case .plain(let count) = entry, count > 1 {
            expected[expectedHead] = .plain(count: count - 1)
            entry = .plain(count: 1)
        } else {
            expectedHead += 1
        }
        while expected.count > expectedHead {
            if case .refusedBDAT(let count) = expected[expectedHead] {
                for _ in 0..<count { clientBound += Self.bdatRefusal }
            } else if case .own(let reply) = expected[expectedHead] {
                clientBound += reply
            } else {
                break
            }
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

    mutating func handleReply(_ reply: SMTPRawReply, into out: inout [UInt8]) {
        switch takeExpected() {
        case nil, .plain?, .refusedBDAT?, .own?:
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

    mutating func helloAnswered(into out: inout [UInt8]) {
        helloRepliesPending -= 1
        guard helloRepliesPending == 0, case .holding(.helloReplies) = state else { return }
        state = .lineHead
        release(into: &out)
    }

    /// Runs the held client input through the state machine again, now that the reply it waited for is in.
    mutating func release(into out: inout [UInt8]) {
        let released = held
        held = []
        consume(released[...], into: &out)
    }
}
