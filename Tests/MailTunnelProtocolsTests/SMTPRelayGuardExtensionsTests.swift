import Testing
@testable import MailTunnelProtocols

/// The guard follows what the backend offered: BDAT passes only where CHUNKING was offered, and the client's
/// EHLO reply never offers the trust extensions (XCLIENT, XFORWARD) or STARTTLS.
@Suite("SMTPRelayGuard: what the backend offered")
struct SMTPRelayGuardExtensionsTests {
    private let refusal = String(decoding: SMTPRelayGuard.bdatRefusal, as: UTF8.self)
    private let denied = String(decoding: SMTPRelayGuard.deniedCommand, as: UTF8.self)
    private let legacyEHLO = "250-legacy.example\r\n250-PIPELINING\r\n250-XFORWARD NAME ADDR\r\n250 XCLIENT NAME ADDR LOGIN\r\n"
    private let legacyEHLOShown = "250-legacy.example\r\n250 PIPELINING\r\n"
    private let chunkingEHLO = "250-mx.example\r\n250-PIPELINING\r\n250-XCLIENT NAME ADDR\r\n250-CHUNKING\r\n250 8BITMIME\r\n"
    private let chunkingEHLOShown = "250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"
    /// A chunk carrying a command, as a client aiming at a backend without CHUNKING would send it.
    private let smuggled = "XCLIENT ADDR=127.0.0.1 LOGIN=postmaster\r\n"

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Client bytes in, one call; (to the backend, the guard's own replies to the client).
    private func client(_ guardState: inout SMTPRelayGuard, _ input: String) -> (String, String) {
        let out = guardState.fromClient(s(input))
        return (text(out), text(guardState.takeClientReplies()))
    }

    private func backend(_ guardState: inout SMTPRelayGuard, _ input: String) -> (toClient: String, toBackend: String) {
        let out = guardState.fromBackend(s(input))
        return (text(out.toClient), text(out.toBackend))
    }

    // MARK: BDAT

    @Test func pipelinedEHLOAndBDATWaitForTheEHLOReplyThenAreRefused() {
        var guardState = SMTPRelayGuard()
        let bdat = "BDAT \(smuggled.utf8.count) LAST\r\n"
        let input = "EHLO c\r\nMAIL FROM:<a@b>\r\n" + bdat + smuggled + "QUIT\r\n"
        #expect(client(&guardState, input) == ("EHLO c\r\nMAIL FROM:<a@b>\r\n", ""))
        #expect(guardState.isHoldingClientInput)  // the EHLO reply decides what the chunk is
        // No CHUNKING: neither the BDAT line nor its chunk reaches the backend; QUIT does.
        #expect(backend(&guardState, legacyEHLO) == (legacyEHLOShown, "QUIT\r\n"))
        #expect(!guardState.isHoldingClientInput)
        #expect(!guardState.extensions.chunking)
        // The refusal takes its place between the replies to MAIL and QUIT.
        #expect(backend(&guardState, "250 2.1.0 Ok\r\n") == ("250 2.1.0 Ok\r\n" + refusal, ""))
        #expect(backend(&guardState, "221 2.0.0 Bye\r\n") == ("221 2.0.0 Bye\r\n", ""))
        #expect(guardState.outstandingReplies == 0)
    }

    @Test func pipelinedEHLOAndBDATPassWhenChunkingIsOffered() {
        var guardState = SMTPRelayGuard()
        let chunk = "Subject: x\r\n\r\n" + smuggled
        let input = "EHLO c\r\nMAIL FROM:<a@b>\r\nBDAT \(chunk.utf8.count) LAST\r\n" + chunk + "QUIT\r\n"
        #expect(client(&guardState, input) == ("EHLO c\r\nMAIL FROM:<a@b>\r\n", ""))
        #expect(backend(&guardState, chunkingEHLO) == (chunkingEHLOShown, "BDAT \(chunk.utf8.count) LAST\r\n" + chunk + "QUIT\r\n"))
        #expect(guardState.extensions.chunking)
        #expect(guardState.outstandingReplies == 3)  // MAIL, BDAT, QUIT
    }

    @Test func bdatBeforeAnyEHLOIsRefusedAtEverySplit() {
        // Nothing offered yet: the guard answers at once, drops the chunk, and reads what follows as commands.
        let input = "BDAT \(smuggled.utf8.count)\r\n" + smuggled + "XCLIENT LOGIN=evil\r\nNOOP\r\n"
        let bytes = b(input)
        for split in 0...bytes.count {
            var guardState = SMTPRelayGuard()
            var toBackend = guardState.fromClient(bytes[..<split])
            var toClient = guardState.takeClientReplies()
            toBackend += guardState.fromClient(bytes[split...])
            toClient += guardState.takeClientReplies()
            #expect(text(toBackend) == denied + "NOOP\r\n", "split at \(split)")
            #expect(text(toClient) == refusal, "split at \(split)")
            #expect(!text(toBackend).contains("BDAT") && !text(toBackend).contains("postmaster"))
        }
    }

    @Test func bdatAfterChunkingIsKnownPassesAtOnce() {
        var guardState = SMTPRelayGuard(extensions: SMTPExtensions(chunking: true))
        #expect(client(&guardState, "BDAT 5\r\nabcde") == ("BDAT 5\r\nabcde", ""))
        #expect(!guardState.isHoldingClientInput)
    }

    @Test func refusalsKeepTheirPlaceAmongPipelinedReplies() {
        var guardState = SMTPRelayGuard()
        let input = "MAIL FROM:<a@b>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\nRCPT TO:<c@d>\r\nBDAT 1\r\nx"
        #expect(client(&guardState, input) == ("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", ""))
        #expect(backend(&guardState, "250 2.1.0 Ok\r\n") == ("250 2.1.0 Ok\r\n" + refusal + refusal, ""))
        #expect(backend(&guardState, "554 5.7.1 no\r\n") == ("554 5.7.1 no\r\n" + refusal, ""))
        #expect(guardState.outstandingReplies == 0)
        // Nothing outstanding: the next refusal is due at once.
        #expect(client(&guardState, "BDAT 0\r\n") == ("", refusal))
    }

    @Test func heloAndARefusedEHLOWithdrawChunking() {
        var guardState = SMTPRelayGuard(extensions: SMTPExtensions(chunking: true))
        #expect(client(&guardState, "HELO c\r\nBDAT 2\r\nxy").0 == "HELO c\r\n")
        // Nothing else outstanding: the refusal follows the HELO reply at once.
        #expect(backend(&guardState, "250 mx.example\r\n") == ("250 mx.example\r\n" + refusal, ""))
        #expect(guardState.takeClientReplies() == [])
        #expect(!guardState.extensions.chunking)

        _ = client(&guardState, "EHLO c\r\n")
        _ = backend(&guardState, chunkingEHLO)
        #expect(guardState.extensions.chunking)
        _ = client(&guardState, "EHLO c\r\nBDAT 2\r\nxy")
        #expect(backend(&guardState, "501 5.5.4 Syntax\r\n") == ("501 5.5.4 Syntax\r\n" + refusal, ""))
    }

    @Test func theLatestEHLOReplyDecides() {
        // Two EHLOs before the BDAT: the guard waits for both, and the second one's reply counts.
        var guardState = SMTPRelayGuard()
        _ = client(&guardState, "EHLO a\r\nEHLO b\r\nBDAT 1 LAST\r\nz")
        #expect(backend(&guardState, chunkingEHLO).toBackend == "")
        #expect(guardState.isHoldingClientInput)
        #expect(backend(&guardState, legacyEHLO) == (legacyEHLOShown + refusal, ""))
    }

    @Test func bdatBehindDataWaitsForBothReplies() {
        var guardState = SMTPRelayGuard()
        _ = client(&guardState, "EHLO c\r\n")
        _ = backend(&guardState, chunkingEHLO)
        #expect(client(&guardState, "DATA\r\nEHLO d\r\nBDAT 2\r\nxy").0 == "DATA\r\n")
        #expect(backend(&guardState, "503 5.5.1 need RCPT\r\n").toBackend == "EHLO d\r\n")
        #expect(guardState.isHoldingClientInput)
        #expect(backend(&guardState, legacyEHLO) == (legacyEHLOShown + refusal, ""))
    }

    @Test func holdingForTheEHLOReplyIsBounded() {
        var guardState = SMTPRelayGuard()
        _ = client(&guardState, "EHLO c\r\nBDAT 99999\r\n")
        let block = [UInt8](repeating: UInt8(ascii: "a"), count: SMTPRelayGuard.maxHeldClientBytes)
        _ = guardState.fromClient(block[...])
        #expect(guardState.failure != nil)
        #expect(guardState.fromBackend(s(chunkingEHLO)) == .init())
    }

    @Test func aRefusedChunkIsDroppedEvenAcrossReads() {
        var guardState = SMTPRelayGuard()
        let chunk = String(repeating: "XCLIENT LOGIN=evil\r\n", count: 100)
        var forwarded = text(guardState.fromClient(s("BDAT \(chunk.utf8.count)\r\n")))
        for piece in b(chunk).split(maxLength: 7) { forwarded += text(guardState.fromClient(piece)) }
        forwarded += text(guardState.fromClient(s("NOOP\r\n")))
        #expect(forwarded == "NOOP\r\n")
        #expect(b("x").withUnsafeBytes { guardState.passThroughPrefix($0) } == 0)
    }

    // MARK: Replies to the client

    @Test func trustExtensionsAreHiddenAtEverySplit() {
        // Bare LF and CRLF lines, the last line dropped (its predecessor must become the last), STARTTLS too.
        let reply = "250-mx.example says hi\r\n250-XCLIENT NAME ADDR\n250-PIPELINING\r\n250-xforward name\r\n"
            + "250-STARTTLS\r\n250-SIZE 1000\n250-CHUNKING\r\n250 XCLIENT LOGIN\r\n"
        let shown = "250-mx.example says hi\r\n250-PIPELINING\r\n250-SIZE 1000\n250 CHUNKING\r\n"
        let input = "EHLO c\r\n"
        let bytes = b(reply + "250 2.0.0 Ok\r\n")
        var rng = SeededGenerator(seed: 99)
        for round in 0..<200 {
            var guardState = SMTPRelayGuard()
            _ = guardState.fromClient(s(input + "NOOP\r\n"))
            var toClient: [UInt8] = []
            var start = 0
            while start < bytes.count {
                let end = round < bytes.count ? min(start + max(1, round % 9), bytes.count)
                                               : Int.random(in: (start + 1)...bytes.count, using: &rng)
                toClient += guardState.fromBackend(bytes[start..<end]).toClient
                start = end
            }
            #expect(text(toClient) == shown + "250 2.0.0 Ok\r\n", "round \(round)")
            #expect(guardState.extensions.chunking)
            #expect(guardState.outstandingReplies == 0)
        }
    }

    @Test func otherRepliesPassByteForByte() {
        var guardState = SMTPRelayGuard(awaitingGreeting: true)
        let greeting = "220-mx.example ESMTP\r\n220 XCLIENT is not a keyword here\r\n"
        #expect(backend(&guardState, greeting).toClient == greeting)
        _ = client(&guardState, "HELP\r\n")
        #expect(backend(&guardState, "214-XCLIENT\n214 see RFC 5321\r\n").toClient == "214-XCLIENT\n214 see RFC 5321\r\n")
        // A partial line is held until it ends.
        _ = client(&guardState, "NOOP\r\n")
        #expect(backend(&guardState, "250 2.0").toClient == "")
        #expect(backend(&guardState, ".0 Ok\r\n").toClient == "250 2.0.0 Ok\r\n")
    }

    @Test func aSingleLineEHLOReplyIsLeftAlone() {
        var guardState = SMTPRelayGuard()
        _ = client(&guardState, "EHLO c\r\n")
        #expect(backend(&guardState, "250 XCLIENT\r\n").toClient == "250 XCLIENT\r\n")  // the host name, not an offer
        #expect(!guardState.extensions.chunking)
    }
}

extension Array where Element == UInt8 {
    /// Consecutive pieces of at most `maxLength` bytes.
    func split(maxLength: Int) -> [ArraySlice<UInt8>] {
        stride(from: 0, to: count, by: maxLength).map { self[$0..<Swift.min($0 + maxLength, count)] }
    }
}
