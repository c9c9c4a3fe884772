import FuzzSupport
import MailTunnelProtocols

/// The RFC 5321 address parser and the relay decisions built on it. The first byte picks the verb and whether the
/// line ends in CRLF. Checks: a parse that succeeds gives a canonical line that parses to the same argument and
/// holds no control byte before its CRLF (the backend can only read the one command mailtunnel decided on); a
/// recipient the local-domains policy forwards is in a local domain (or is postmaster) without `%`, `!` or an
/// extra `@`; a refusal is one reply line.
@_cdecl("FuzzSMTPAddress_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

private let localDomains = try! LocalDomains(["example.org", ".sub.example.org", "[192.0.2.25]"])
private let policy = SMTPTransactionPolicy(recipients: localDomains,
                                           sender: try! SenderLoginMap(text: "alice alice@example.org @sales.example.org\n").ownership(of: "alice"))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let verb: SMTPPathVerb = flags & 1 == 0 ? .mail : .rcpt
    var line = Array(input.rest())
    if flags & 2 != 0 { line += [0x0D, 0x0A] }

    if case .success(let argument)? = SMTPAddressParser.parse(line: line[...], verb: verb) {
        let canonical = argument.canonicalLine(verb: verb)
        if canonical.dropLast(2).contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            violation("a control byte in the canonical line", line)
        }
        guard case .success(let again)? = SMTPAddressParser.parse(line: canonical[...], verb: verb) else {
            violation("the canonical line does not parse", canonical)
        }
        if again != argument { violation("the canonical line parses to another argument", canonical) }
    }

    let decision = verb == .rcpt ? policy.decideRecipient(line[...]) : policy.decideSender(line[...])
    switch decision {
    case .forward(let forwarded):
        guard case .success(let argument)? = SMTPAddressParser.parse(line: forwarded[...], verb: verb) else {
            violation("a forwarded line does not parse", forwarded)
        }
        if verb == .rcpt, !(argument.mailbox.map(localDomains.admits) ?? false) {
            violation("a forwarded recipient is not local", forwarded)
        }
        if verb == .mail, let mailbox = argument.mailbox, !policy.sender!.owns(mailbox) {
            violation("a forwarded sender is not alice's", forwarded)
        }
    case .refuse(let reply):
        if reply.dropLast(2).contains(where: { $0 < 0x20 || $0 == 0x7F }) || reply.suffix(2) != [0x0D, 0x0A] {
            violation("a refusal that is not one reply line", reply)
        }
    }
    return 0
}
