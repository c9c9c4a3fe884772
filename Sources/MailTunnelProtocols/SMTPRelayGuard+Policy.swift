/// The guard's share of the main relay's rules (`SMTPTransactionPolicy`): in a session whose client may not relay
/// anywhere, or whose senders are checked, every `RCPT` (or `MAIL`) line is collected whole, decided, and either
/// replaced by the line the policy wrote from its parse or answered by the guard itself, in its place among the
/// pipelined replies. So the rule holds for every transaction of the session, after RSET, with BDAT, and however
/// the client pipelines: a checked verb never reaches the backend in the client's own bytes.
///
/// - A line whose first token is a checked verb but which does not read as `RCPT TO:<...>` / `MAIL FROM:<...>`
///   is answered 501 by the guard, never forwarded: the backend's more lenient reader could find an address
///   where the guard found none.
/// - A checked line longer than `maxPolicyLineLength` is denied (`X-MAILTUNNEL-DENIED`, answered by the
///   backend in order): RFC 5321 allows 512 octets, and Postfix's own limit is 2048.
extension SMTPRelayGuard {
    /// Longest MAIL or RCPT line the policy reads, terminator included.
    public static let maxPolicyLineLength = 2048
    /// Most answers (backend replies owed plus the guard's own) queued while the guard refuses lines.
    public static let maxQueuedAnswers = 4096

    /// The verb the session's policy checks, if `token` is one.
    func checkedVerb(_ token: ArraySlice<UInt8>) -> SMTPPathVerb? {
        if policy.recipients != nil, token.asciiEqualsUppercase("RCPT") { return .rcpt }
        if policy.sender != nil, token.asciiEqualsUppercase("MAIL") { return .mail }
        return nil
    }

    /// The verb of a checked line is complete: collect the rest of the line from its first token.
    mutating func startPolicyLine(_ verb: SMTPPathVerb, lastByte: UInt8, start: Int) {
        lineHead.removeFirst(start)
        tokenStart = nil
        if lastByte == Self.lf {
            let line = lineHead
            startLine()
            var none: [UInt8] = []
            handlePolicyLine(line, verb, into: &none)
        } else {
            state = .policyLine(verb)
        }
    }

    /// A complete checked line: forward the policy's line, or answer it here.
    mutating func handlePolicyLine(_ line: [UInt8], _ verb: SMTPPathVerb, into out: inout [UInt8]) {
        let decision = verb == .rcpt ? policy.decideRecipient(line[...]) : policy.decideSender(line[...])
        switch decision {
        case .forward(let rewritten):
            out.append(contentsOf: rewritten)
            expect(.plain)
        case .refuse(let reply):
            answerOwn(reply)
        }
    }
}
