import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import MailTunnelProtocols

private let denied = "X-MAILTUNNEL-DENIED\r\n"

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Feeds `input` to a fresh guard's client side in pieces cut at `cuts` and returns everything sent to the backend.
private func relay(_ input: String, cuts: [Int], prepare: (inout SMTPRelayGuard) -> Void = { _ in }) -> String {
    var guardState = SMTPRelayGuard()
    prepare(&guardState)
    let bytes = b(input)
    var out: [UInt8] = []
    var start = 0
    for cut in cuts.map({ min($0, bytes.count) }) + [bytes.count] where cut >= start {
        out += guardState.fromClient(bytes[start..<cut])
        start = cut
    }
    return text(out)
}

extension SMTPRelayGuard {
    /// Backend bytes in; the client input they release (for the backend) out.
    mutating func released(_ bytes: ArraySlice<UInt8>) -> [UInt8] { fromBackend(bytes).toBackend }
}

/// A guard for a session whose backend offered CHUNKING in its latest EHLO reply.
private func chunkingOffered(_ guardState: inout SMTPRelayGuard) {
    guardState = SMTPRelayGuard(extensions: SMTPExtensions(chunking: true))
}

/// A guard whose client has sent DATA and been answered 354: message content comes next.
private func inMessageContent(_ guardState: inout SMTPRelayGuard) {
    _ = guardState.fromClient(s("DATA\r\n"))
    _ = guardState.released(s("354 End data with <CR><LF>.<CR><LF>\r\n"))
}

/// Checks that `input` comes out as `expected` in one piece, cut once at every position, and byte by byte.
private func expectEverySplit(_ input: String, _ expected: String,
                              prepare: @escaping (inout SMTPRelayGuard) -> Void = { _ in },
                              sourceLocation: SourceLocation = #_sourceLocation) {
    let count = b(input).count
    #expect(relay(input, cuts: [], prepare: prepare) == expected, sourceLocation: sourceLocation)
    for split in 0...count {
        #expect(relay(input, cuts: [split], prepare: prepare) == expected, "split at \(split)", sourceLocation: sourceLocation)
    }
    #expect(relay(input, cuts: Array(0...count), prepare: prepare) == expected, "byte by byte", sourceLocation: sourceLocation)
}

@Suite("SMTPRelayGuard")
struct SMTPRelayGuardTests {
    // MARK: Command mode

    @Test func plainCommandsPassUnchanged() {
        let input = "MAIL FROM:<a@example.org> SIZE=100\r\nRCPT TO:<b@example.org>\r\nNOOP\r\nRSET\r\nDATAX\r\n\r\nQUIT\n"
        expectEverySplit(input, input)
        var guardState = SMTPRelayGuard()
        _ = guardState.fromClient(s(input))
        #expect(guardState.outstandingReplies == 7)
        #expect(!guardState.isHoldingClientInput)
    }

    @Test func aCommandIsPassedOnBeforeItsLineEnds() {
        var guardState = SMTPRelayGuard()
        // The first byte rules out every watched verb: no waiting for the CRLF.
        #expect(text(guardState.fromClient(s("MAIL FROM:<a"))) == "MAIL FROM:<a")
        #expect(text(guardState.fromClient(s("@b>\r\nXCL"))) == "@b>\r\n")
        #expect(text(guardState.fromClient(s("IEN"))) == "")
        #expect(text(guardState.fromClient(s("T LOGIN=x"))) == "")
        #expect(text(guardState.fromClient(s("\r\nXCLIEN"))) == denied)
        #expect(text(guardState.fromClient(s("\r\n"))) == "XCLIEN\r\n")  // not a verb any MTA knows
        #expect(guardState.outstandingReplies == 3)
    }

    @Test func xclientAndXforwardAreRewritten() {
        expectEverySplit("XCLIENT LOGIN=x\r\n", denied)
        expectEverySplit("xforward NAME=spoof.example ADDR=192.0.2.1\r\n", denied)
        expectEverySplit("XClient\r\n", denied)
        expectEverySplit("XCLIENT LOGIN=x\n", denied)  // bare LF ends a line for Postfix too
        expectEverySplit("  \tXCLIENT LOGIN=x\r\n", denied)  // leading blanks are skipped by tokenisers
        expectEverySplit("XCLIENT\tLOGIN=x\r\n", denied)
        expectEverySplit("\u{0}XCLIENT LOGIN=x\r\n", denied)
        expectEverySplit("XCLIENTLOGIN=x\r\n", denied)  // prefix rule: unknown to the MTA either way
        expectEverySplit("STARTTLS\r\n", denied)  // TLS with the backend would blind the guard
    }

    @Test func pipelinedXclientIsRewrittenInPlaceAtEverySplit() {
        let input = "MAIL FROM:<a@b>\r\nXCLIENT LOGIN=evil\r\nRCPT TO:<c@d>\r\nxforward ADDR=192.0.2.1\r\nNOOP\r\n"
        let expected = "MAIL FROM:<a@b>\r\n" + denied + "RCPT TO:<c@d>\r\n" + denied + "NOOP\r\n"
        expectEverySplit(input, expected)
        var guardState = SMTPRelayGuard()
        _ = guardState.fromClient(s(input))
        #expect(guardState.outstandingReplies == 5)  // one reply per line, denials included
    }

    @Test func overlongLinesStayBounded() {
        // A long SASL response streams through unchanged without being held.
        let response = String(repeating: "QUJD", count: 5000)
        var guardState = SMTPRelayGuard()
        #expect(text(guardState.fromClient(s(String(response.prefix(8000))))) == String(response.prefix(8000)))
        #expect(text(guardState.fromClient(s(String(response.dropFirst(8000)) + "\r\n"))) == String(response.dropFirst(8000)) + "\r\n")

        // A long XCLIENT line, in many pieces, becomes one denial.
        let longXclient = "XCLIENT LOGIN=" + String(repeating: "a", count: 20000) + "\r\nNOOP\r\n"
        #expect(relay(longXclient, cuts: Array(stride(from: 0, to: 20020, by: 1000))) == denied + "NOOP\r\n")

        // A line start of only blanks beyond the limit is denied instead of being passed on undecided.
        let blanks = String(repeating: " ", count: SMTPRelayGuard.maxLineHeadBytes + 10) + "MAIL FROM:<a@b>\r\nNOOP\r\n"
        #expect(relay(blanks, cuts: [100, 5000]) == denied + "NOOP\r\n")
    }

    // MARK: DATA

    @Test func acceptedDataPassesContentUntouchedThenGuardsAgain() {
        var guardState = SMTPRelayGuard()
        let session = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nXCLIENT LOGIN=evil\r\n.\r\nXCLIENT LOGIN=evil\r\nQUIT\r\n"
        #expect(text(guardState.fromClient(s(session))) == "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        #expect(guardState.isHoldingClientInput)
        #expect(text(guardState.released(s("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"))) == "")
        #expect(guardState.isHoldingClientInput)
        let released = guardState.released(s("354 End data with <CR><LF>.<CR><LF>\r\n"))
        #expect(text(released) == "Subject: x\r\n\r\nXCLIENT LOGIN=evil\r\n.\r\n" + denied + "QUIT\r\n")
        #expect(!guardState.isHoldingClientInput)
        #expect(!guardState.isInMessageContent)
        #expect(guardState.outstandingReplies == 3)  // the message, the denial, QUIT
    }

    @Test func rejectedDataKeepsGuardingPipelinedCommands() {
        var guardState = SMTPRelayGuard()
        #expect(text(guardState.fromClient(s("DATA\r\nXCLIENT LOGIN=evil\r\nNOOP\r\n"))) == "DATA\r\n")
        #expect(guardState.isHoldingClientInput)
        #expect(text(guardState.released(s("554 5.5.1 Error: no valid recipients\r\n"))) == denied + "NOOP\r\n")
        #expect(!guardState.isHoldingClientInput)
        #expect(!guardState.isInMessageContent)
    }

    @Test func dataWithArgumentsStillWaitsForTheReply() {
        // Tokenisers differ on blanks; the reply, not the parse, decides whether content follows.
        for line in ["data\r\n", " DATA \r\n", "DATA\t\r\n", "DATA x\r\n"] {
            var guardState = SMTPRelayGuard()
            #expect(text(guardState.fromClient(s(line + "XCLIENT LOGIN=evil\r\n"))) == line)
            #expect(guardState.isHoldingClientInput)
            #expect(text(guardState.released(s("501 5.5.4 Syntax: DATA\r\n"))) == denied)
        }
    }

    @Test func endOfDataSplitAtEveryPosition() {
        let content = "line1\r\n..XCLIENT x\r\n.\r\nXCLIENT LOGIN=evil\r\nNOOP\r\n"
        expectEverySplit(content, "line1\r\n..XCLIENT x\r\n.\r\n" + denied + "NOOP\r\n", prepare: inMessageContent)
    }

    @Test func endOfDataRightAfter354() {
        expectEverySplit(".\r\nXCLIENT LOGIN=evil\r\n", ".\r\n" + denied, prepare: inMessageContent)
    }

    @Test func endOfDataAsPostfixReadsIt() {
        // Postfix ends lines at LF and strips every CR before it: all of these end the message there, so the
        // guard must too, or `XCLIENT` would reach the backend as a command while we still call it content.
        for ending in ["\n.\n", "\r\n.\n", "\n.\r\n", "\r\n.\r\r\n"] {
            let input = "a" + ending + "XCLIENT LOGIN=evil\r\n"
            expectEverySplit(input, "a" + ending + denied, prepare: inMessageContent)
        }
    }

    @Test func dotStuffedAndBareCRLinesDoNotEndData() {
        let content = "..XCLIENT LOGIN=evil\r\n..\r\n.x\r\na\r.\r\nb\r\n.\rXCLIENT LOGIN=evil\r\n"
        expectEverySplit(content, content, prepare: inMessageContent)
        var guardState = SMTPRelayGuard()
        inMessageContent(&guardState)
        _ = guardState.fromClient(s(content))
        #expect(guardState.isInMessageContent)
    }

    @Test func heldInputIsReleasedInOrderAcrossSeveralTransactions() {
        var guardState = SMTPRelayGuard()
        #expect(text(guardState.fromClient(s("DATA\r\nfirst"))) == "DATA\r\n")
        // An engine that keeps reading anyway: everything is kept, nothing passed.
        #expect(text(guardState.fromClient(s(" body\r\n.\r\nMAIL FROM:<x@y>\r\n"))) == "")
        #expect(text(guardState.fromClient(s("DATA\r\nsecond\r\n.\r\nXCLIENT LOGIN=evil\r\n"))) == "")
        #expect(text(guardState.released(s("354 go\r\n"))) == "first body\r\n.\r\nMAIL FROM:<x@y>\r\nDATA\r\n")
        #expect(guardState.isHoldingClientInput)  // the second DATA awaits its own reply
        // Replies to the first message and MAIL come first; only the third is the second DATA's.
        #expect(text(guardState.released(s("250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n"))) == "")
        #expect(text(guardState.released(s("354 go\r\n"))) == "second\r\n.\r\n" + denied)
        #expect(!guardState.isHoldingClientInput)
    }

    @Test func multiLineRepliesCountOnce() {
        var guardState = SMTPRelayGuard()
        #expect(text(guardState.fromClient(s("EHLO c\r\nRSET\r\nDATA\r\nbody\r\n.\r\n"))) == "EHLO c\r\nRSET\r\nDATA\r\n")
        let replies = b("250-mail.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n250 2.0.0 Ok\r\n354-one\r\n354 two\r\n")
        var released: [UInt8] = []
        for index in replies.indices {  // byte by byte: reply lines split everywhere
            released += guardState.released(replies[index...index])
            if index < replies.count - 1 { #expect(released.isEmpty && guardState.isHoldingClientInput) }
        }
        #expect(text(released) == "body\r\n.\r\n")
        #expect(guardState.outstandingReplies == 1)
    }

    @Test func unsolicitedRepliesAreIgnored() {
        var guardState = SMTPRelayGuard()
        #expect(guardState.fromBackend(s("421 4.4.2 timeout\r\n")) == .init(toClient: b("421 4.4.2 timeout\r\n")))
        #expect(guardState.outstandingReplies == 0)
        #expect(guardState.failure == nil)
    }

    // MARK: BDAT

    @Test func bdatChunksPassUntouched() {
        let chunk1 = "\r\n.\r\nXCLIENT LOGIN=evil\r\n"
        let chunk2 = "XCLIENT LOGIN=evil"
        let input = "BDAT \(b(chunk1).count)\r\n\(chunk1)bdat \(b(chunk2).count) last\r\n\(chunk2)XCLIENT LOGIN=evil\r\nBDAT 0 LAST\r\nQUIT\r\n"
        let expected = "BDAT \(b(chunk1).count)\r\n\(chunk1)bdat \(b(chunk2).count) last\r\n\(chunk2)" + denied + "BDAT 0 LAST\r\nQUIT\r\n"
        expectEverySplit(input, expected, prepare: chunkingOffered)
        var guardState = SMTPRelayGuard(extensions: SMTPExtensions(chunking: true))
        _ = guardState.fromClient(s(input))
        #expect(guardState.outstandingReplies == 5)
        #expect(!guardState.isHoldingClientInput)  // BDAT is answered after its chunk: nothing to wait for
    }

    @Test func nonCanonicalBdatIsDenied() {
        // The chunk size must be read exactly as the backend reads it; anything ambiguous is refused, so both sides
        // then treat the following bytes as commands.
        for line in ["BDAT  5\r\n", " BDAT 5\r\n", "BDAT\t5\r\n", "BDAT 5 LAST x\r\n", "BDAT -5\r\n", "BDAT\r\n",
                     "BDAT 5\r\r\n", "BDAT 1234567890123456789\r\n", "BDAT 5LAST\r\n"] {
            expectEverySplit(line + "XCLIENT LOGIN=evil\r\n", denied + denied, prepare: chunkingOffered)
            expectEverySplit(line + "XCLIENT LOGIN=evil\r\n", denied + denied)
        }
        let overlong = "BDAT 5 " + String(repeating: " ", count: 600) + "\r\nNOOP\r\n"
        expectEverySplit(overlong, denied + "NOOP\r\n", prepare: chunkingOffered)
    }

    // MARK: Failures

    @Test func malformedBackendReplyFailsClosed() {
        var guardState = SMTPRelayGuard()
        _ = guardState.fromClient(s("DATA\r\nXCLIENT LOGIN=evil\r\n"))
        #expect(guardState.released(s("hello there\r\n")).isEmpty)
        #expect(guardState.failure != nil)
        #expect(!guardState.isHoldingClientInput)
        #expect(guardState.fromClient(s("NOOP\r\n")).isEmpty)
    }

    @Test func tooMuchHeldInputFailsClosed() {
        var guardState = SMTPRelayGuard()
        _ = guardState.fromClient(s("DATA\r\n"))
        let block = [UInt8](repeating: UInt8(ascii: "a"), count: SMTPRelayGuard.maxHeldClientBytes)
        #expect(guardState.fromClient(block[...]).isEmpty)
        #expect(guardState.failure == nil)
        #expect(guardState.fromClient(s("a")).isEmpty)
        #expect(guardState.failure != nil)
        #expect(guardState.released(s("354 go\r\n")).isEmpty)
    }

    // MARK: Randomised

    @Test func randomCutsGiveTheSameOutput() {
        let fragments = ["MAIL FROM:<a@b>\r\n", "XCLIENT LOGIN=evil\r\n", "xforward ADDR=1.2.3.4\n", "DATA\r\n",
                         "\r\n.\r\n", "\n.\n", "..XCLIENT\r\n", "BDAT 7\r\n", "BDAT 3 LAST\r\n", "STARTTLS\r\n",
                         "  \r\n", "XCL", "IENT", "DA", "TA\r\n", "\r", "\n", ".", "EHLO c\r\n", "HELO c\r\n", "EH"]
        let backend = ["250 ok\r\n", "354 go\r\n", "554 no\r\n", "250-a\r\n250 b\r\n", "250-a\r\n250 CHUNKING\r\n",
                       "250-a\r\n250-XCLIENT ADDR\r\n250 CHUNKING\r\n"]
        var rng = SeededGenerator(seed: 42)
        for round in 0..<300 {
            var script: [(client: Bool, bytes: [UInt8])] = []
            for _ in 0..<30 {
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    script.append((false, b(backend[Int.random(in: 0..<backend.count, using: &rng)])))
                } else {
                    script.append((true, b(fragments[Int.random(in: 0..<fragments.count, using: &rng)])))
                }
            }
            // Reference: each fragment in one call. Then: every client fragment cut at a random place.
            let chunking = round % 2 == 0
            func run(cut: Bool, rng: inout SeededGenerator) -> ([UInt8], [UInt8], Int, Bool) {
                var guardState = SMTPRelayGuard(extensions: SMTPExtensions(chunking: chunking))
                var out: [UInt8] = []
                var toClient: [UInt8] = []
                for step in script {
                    if step.client {
                        let split = cut ? Int.random(in: 0...step.bytes.count, using: &rng) : step.bytes.count
                        out += guardState.fromClient(step.bytes[..<split])
                        out += guardState.fromClient(step.bytes[split...])
                        toClient += guardState.takeClientReplies()
                    } else {
                        let result = guardState.fromBackend(step.bytes[...])
                        out += result.toBackend
                        toClient += result.toClient
                    }
                }
                return (out, toClient, guardState.outstandingReplies, guardState.isHoldingClientInput)
            }
            let whole = run(cut: false, rng: &rng)
            let cut = run(cut: true, rng: &rng)
            #expect(whole.0 == cut.0 && whole.1 == cut.1, "round \(round)")
            #expect(whole.2 == cut.2 && whole.3 == cut.3, "round \(round)")
            #expect(!text(whole.1).contains("XCLIENT"), "round \(round)")
        }
    }

    @Test func passThroughPrefixCoversContentAndChunksOnly() {
        var guardState = SMTPRelayGuard(extensions: SMTPExtensions(chunking: true))
        let commands = b("MAIL FROM:<a@b>\r\n")
        #expect(commands.withUnsafeBytes { guardState.passThroughPrefix($0) } == 0)  // command mode: use fromClient
        inMessageContent(&guardState)
        let content = b("a\r\n..b\r\n.\r\nXCLIENT LOGIN=evil\r\n")
        let passed = content.withUnsafeBytes { guardState.passThroughPrefix($0) }
        #expect(passed == 11)  // through the end-of-data line, no further
        #expect(text(guardState.fromClient(content[passed...])) == denied)

        _ = guardState.fromClient(s("BDAT 10 LAST\r\n"))
        let chunk = b("0123456789XCLIENT LOGIN=evil\r\n")
        #expect(chunk[..<4].withUnsafeBytes { guardState.passThroughPrefix($0) } == 4)
        #expect(chunk[4...].withUnsafeBytes { guardState.passThroughPrefix($0) } == 6)
        #expect(text(guardState.fromClient(chunk[10...])) == denied)
        #expect(guardState.outstandingReplies == 4)  // DATA, the message, BDAT, the denial
    }

    /// 64 MiB of random content (LF-rich, with decoys) in 16 KiB reads, through both client entry points.
    @Test(arguments: [false, true])
    func sixtyFourMebibytesOfContentComeOutIdentical(zeroCopy: Bool) {
        var rng = SeededGenerator(seed: 0x5EED)
        let size = 64 << 20
        var input = [UInt8](repeating: 0, count: size)
        input.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices { words[index] = rng.next() }
            // Random bytes contain LFs; no line may start with `.` (a client dot-stuffs it).
            let bytes = raw.bindMemory(to: UInt8.self)
            var index = 0
            while index < size - 1 {
                if bytes[index] == UInt8(ascii: "\n"), bytes[index + 1] == UInt8(ascii: ".") { bytes[index + 1] = UInt8(ascii: "x") }
                index += 1
            }
        }
        // Message text that looks like commands and dot-stuffed lines, at chunk-straddling offsets.
        let decoys = b("\r\n..\r\nXCLIENT LOGIN=evil\r\n")
        for offset in stride(from: 16384 - 7, to: size - 100, by: 1 << 20) {
            input.replaceSubrange(offset..<(offset + decoys.count), with: decoys)
        }
        input += b("\r\n.\r\nXCLIENT LOGIN=evil\r\n")

        var guardState = SMTPRelayGuard()
        inMessageContent(&guardState)
        var out = [UInt8]()
        out.reserveCapacity(input.count)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            var start = 0
            while start < input.count {
                let end = min(start + 16384, input.count)
                if zeroCopy {
                    let passed = input[start..<end].withUnsafeBytes { guardState.passThroughPrefix($0) }
                    out += input[start..<(start + passed)]
                    out += guardState.fromClient(input[(start + passed)..<end])
                } else {
                    out += guardState.fromClient(input[start..<end])
                }
                start = end
            }
        }
        print("SMTPRelayGuard: 64 MiB of content (zeroCopy: \(zeroCopy)) in \(elapsed)")
        let expectedCount = size + 5 + b(denied).count
        #expect(out.count == expectedCount)
        let same = out.count == expectedCount && out.withUnsafeBytes { o in
            input.withUnsafeBytes { i in memcmp(o.baseAddress!, i.baseAddress!, size + 5) == 0 }
        }
        #expect(same)
        #expect(text(Array(out[size...])) == "\r\n.\r\n" + denied)
        #expect(!guardState.isInMessageContent)
    }

    // MARK: Against a backend model

    /// Drives the guard against a model of Postfix's reading rules (lines end at LF, every CR before it stripped,
    /// verbs split on blanks, `.` alone ends content, BDAT consumes its chunk when CHUNKING was offered) and of a
    /// legacy MTA (no CHUNKING: BDAT is an unknown command and its "chunk" more commands), with replies delivered
    /// late and in random pieces, and checks the property the guard exists for: the backend never executes a
    /// denied verb, and the client never sees it offered.
    @Test(arguments: [false, true])
    func theBackendNeverExecutesADeniedVerb(offersChunking: Bool) {
        let fragments = ["MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n", "DATA\r\n", "data\n", "DATA x\r\n",
                         "XCLIENT LOGIN=evil\r\n", " xclient login=evil\n", "XFORWARD ADDR=192.0.2.1\r\n",
                         "STARTTLS\r\n", "\r\n.\r\n", "\n.\n", "\r\n.\r\r\n", ".\r\n", "..\r\n", "\r\n",
                         "XCL", "IENT LOGIN=evil\r\n", "BDAT 5\r\n", "BDAT 0 LAST\r\n", "BDAT 3 last\r\n",
                         "BDAT  4\r\n", "BDAT 7LAST\r\n", "NOOP\r\n", "RSET\r\n", "EHLO c\r\n", "HELO c\r\n",
                         "ehlo c\n", "BDAT 20 LAST\r\nXCLIENT LOGIN=evil\r\n"]
        var rng = SeededGenerator(seed: offersChunking ? 7 : 8)
        var problems: [String] = []
        for round in 0..<400 {
            var guardState = SMTPRelayGuard()
            var backend = BackendModel(offersChunking: offersChunking)
            var replies: [UInt8] = []  // written by the backend, not yet seen by the guard
            var clientSaw: [UInt8] = []
            func toBackend(_ bytes: [UInt8], _ rng: inout SeededGenerator) {
                replies += backend.receive(bytes, &rng)
            }
            func fromBackend(_ bytes: [UInt8], _ rng: inout SeededGenerator) {
                let out = guardState.fromBackend(bytes[...])
                clientSaw += out.toClient
                toBackend(out.toBackend, &rng)
            }
            for _ in 0..<40 {
                var input: [UInt8] = []
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    if Int.random(in: 0..<6, using: &rng) == 0 {
                        let pool = b("\r\n.XCLIENT ")
                        input += (0..<Int.random(in: 1...5, using: &rng)).map { _ in pool[Int.random(in: 0..<pool.count, using: &rng)] }
                    } else {
                        input += b(fragments[Int.random(in: 0..<fragments.count, using: &rng)])
                    }
                }
                let split = Int.random(in: 0...input.count, using: &rng)
                toBackend(guardState.fromClient(input[..<split]), &rng)
                toBackend(guardState.fromClient(input[split...]), &rng)
                clientSaw += guardState.takeClientReplies()
                // Deliver some of the backend's replies, cut anywhere.
                if !replies.isEmpty, Bool.random(using: &rng) {
                    let count = Int.random(in: 0...replies.count, using: &rng)
                    let delivered = Array(replies[..<count])
                    replies.removeFirst(count)
                    fromBackend(delivered, &rng)
                }
            }
            while !replies.isEmpty {  // let everything settle
                let delivered = replies
                replies = []
                fromBackend(delivered, &rng)
            }
            if text(clientSaw).contains("XCLIENT") || text(clientSaw).contains("XFORWARD") {
                problems.append("round \(round): the client saw a trust extension offered")
            }
            if let failure = guardState.failure { problems.append("round \(round): failure \(failure)") }
            if !backend.violations.isEmpty { problems.append("round \(round): executed \(backend.violations)") }
            if !backend.isInChunk {
                if guardState.outstandingReplies != 0 { problems.append("round \(round): \(guardState.outstandingReplies) replies still expected") }
                if guardState.isInMessageContent != backend.isInData { problems.append("round \(round): content mode disagrees") }
            }
        }
        let firstProblems = Array(problems.prefix(5))
        #expect(firstProblems.isEmpty, "\(problems.count) problems in all")
    }
}

/// How Postfix's smtpd reads a session (smtp_get, data_cmd, bdat_cmd), reduced to what the guard must agree on.
private struct BackendModel {
    private enum Mode { case command, data, chunk(Int) }
    private var mode = Mode.command
    private var line: [UInt8] = []
    private(set) var violations: [String] = []
    /// Whether this server implements CHUNKING at all, and whether the current session was offered it by EHLO.
    let offersChunking: Bool
    private var sessionHasChunking = false

    init(offersChunking: Bool) { self.offersChunking = offersChunking }

    var isInData: Bool { if case .data = mode { return true } else { return false } }
    var isInChunk: Bool { if case .chunk = mode { return true } else { return false } }

    mutating func receive(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var replies: [UInt8] = []
        for byte in bytes {
            if case .chunk(let remaining) = mode {
                mode = remaining == 1 ? .command : .chunk(remaining - 1)
                if remaining == 1 { replies += b("250 2.0.0 Ok: chunk\r\n") }
                continue
            }
            guard byte == UInt8(ascii: "\n") else { line.append(byte); continue }
            while line.last == UInt8(ascii: "\r") { line.removeLast() }
            defer { line = [] }
            if case .data = mode {
                if line == [UInt8(ascii: ".")] {
                    mode = .command
                    replies += b("250 2.0.0 Ok: queued\r\n")
                }
                continue
            }
            let words = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
                .map { String(decoding: $0, as: UTF8.self).uppercased() }
            let verb = words.first ?? ""
            switch verb {
            case "XCLIENT", "XFORWARD", "STARTTLS":
                violations.append(String(decoding: line, as: UTF8.self))
                replies += b("220 2.0.0 Ok\r\n")
            case "DATA" where words.count == 1:
                if Bool.random(using: &rng) {
                    mode = .data
                    replies += b("354-End data with\r\n354 <CR><LF>.<CR><LF>\r\n")
                } else {
                    replies += b("554 5.5.1 Error: no valid recipients\r\n")
                }
            case "DATA":
                replies += b("501 5.5.4 Syntax: DATA\r\n")
            case "EHLO" where words.count == 2:
                sessionHasChunking = offersChunking
                replies += b("250-model.example\r\n250-PIPELINING\r\n" + (offersChunking ? "250-CHUNKING\r\n" : "")
                             + "250-XFORWARD NAME ADDR\r\n250 XCLIENT NAME ADDR LOGIN\r\n")
            case "HELO" where words.count == 2:
                sessionHasChunking = false
                replies += b("250 model.example\r\n")
            case "BDAT" where sessionHasChunking && (2...3).contains(words.count) && words[1].allSatisfy(\.isASCII) && Int(words[1]) != nil
                && (words.count == 2 || words[2] == "LAST"):
                let size = Int(words[1])!
                if size == 0 { replies += b("250 2.0.0 Ok: chunk\r\n") } else { mode = .chunk(size) }
            case "":
                replies += b("500 5.5.2 Error: bad syntax\r\n")
            case "MAIL", "RCPT", "NOOP", "RSET":
                replies += b(Bool.random(using: &rng) ? "250 2.0.0 Ok\r\n" : "250-2.0.0 Ok\r\n250 2.0.0 fine\r\n")
            default:
                replies += b("502 5.5.2 Error: command not recognized\r\n")
            }
        }
        return replies
    }
}
