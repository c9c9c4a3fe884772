import Testing
@testable import MailTunnelProtocols

/// What the gate does with `RCPT TO:` from an unauthenticated client when `local-domains = example.org,
/// .sub.example.org, [192.0.2.25]`.
private enum Outcome: Equatable {
    /// Forwarded as this canonical line.
    case forward(String)
    /// Refused with this reply code (554 relay denied, 501 syntax).
    case refuse(Int)
}

private let localDomains = try! LocalDomains(["example.org", ".sub.example.org", "[192.0.2.25]"])
private let unauthenticated = SMTPTransactionPolicy(recipients: localDomains)

private func decide(_ line: String) -> Outcome {
    switch unauthenticated.decideRecipient(Array(line.utf8)[...]) {
    case .forward(let bytes): return .forward(String(decoding: bytes, as: UTF8.self))
    case .refuse(let reply): return .refuse(Int(String(decoding: reply.prefix(3), as: UTF8.self)) ?? 0)
    }
}

/// RFC 5321 edge cases. The comment on each row is what Postfix 3.7's smtpd decides for the same RCPT from an
/// unauthenticated client with the same domains in `mydestination`/`relay_domains` and the defaults
/// `smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination` (read as
/// reject_unauth_destination, 554), `allow_percent_hack = yes`, `swap_bangpath = yes`,
/// `allow_untrusted_routing = no`, `strict_rfc821_envelopes = no`. Where mailtunnel is stricter the row says so;
/// it is never more permissive.
private let table: [(line: String, expected: Outcome)] = [
    // Postfix: local domain → accept.
    ("RCPT TO:<alice@example.org>", .forward("RCPT TO:<alice@example.org>\r\n")),
    // Postfix: domains are case-insensitive (lowercased before lookup) → accept.
    ("rcpt to:<Alice@EXAMPLE.Org>", .forward("RCPT TO:<Alice@example.org>\r\n")),
    // Postfix: trailing dot stripped by trivial-rewrite → local → accept.
    ("RCPT TO:<alice@example.org.>", .forward("RCPT TO:<alice@example.org>\r\n")),
    // Postfix: not local, not relay_domains → 554 5.7.1 Relay access denied.
    ("RCPT TO:<bob@elsewhere.net>", .refuse(554)),
    // Postfix: a look-alike suffix is another domain → 554 Relay access denied.
    ("RCPT TO:<bob@evilexample.org>", .refuse(554)),
    // Postfix: `.sub.example.org` in relay_domains matches a subdomain → accept.
    ("RCPT TO:<carol@mx.sub.example.org>", .forward("RCPT TO:<carol@mx.sub.example.org>\r\n")),
    // Postfix: `.sub.example.org` does not match sub.example.org itself → 554 Relay access denied.
    ("RCPT TO:<carol@sub.example.org>", .refuse(554)),
    // Postfix: percent hack rewrites to bob@elsewhere.net → not local → 554 Relay access denied.
    ("RCPT TO:<bob%elsewhere.net@example.org>", .refuse(554)),
    // Postfix: swap_bangpath rewrites to bob@elsewhere.net → 554 Relay access denied.
    ("RCPT TO:<elsewhere.net!bob@example.org>", .refuse(554)),
    // Postfix: percent hack to another local domain would be accepted; mailtunnel refuses every `%` (stricter).
    ("RCPT TO:<bob%example.org@example.org>", .refuse(554)),
    // Postfix: source route stripped, address marked routed, allow_untrusted_routing = no → 554 Relay access denied.
    ("RCPT TO:<@relay.net,@other.net:bob@example.org>", .refuse(554)),
    // Postfix: same for a one-hop route → 554 Relay access denied.
    ("RCPT TO:<@example.org:bob@elsewhere.net>", .refuse(554)),
    // Postfix: quoted local part of a local domain → accept (delivered to the quoted name).
    ("RCPT TO:<\"alice smith\"@example.org>", .forward("RCPT TO:<\"alice smith\"@example.org>\r\n")),
    // Postfix: a quoted `@` and domain inside the local part resolves to elsewhere.net → 554; mailtunnel refuses
    // any `@` in the local part.
    ("RCPT TO:<\"bob@elsewhere.net\"@example.org>", .refuse(554)),
    // Postfix: quoted `%` is still a percent hack after unquoting → 554; mailtunnel refuses it too.
    ("RCPT TO:<\"bob%elsewhere.net\"@example.org>", .refuse(554)),
    // Postfix: `>` inside a quoted local part does not close the path → accept as local.
    ("RCPT TO:<\"a>b\"@example.org>", .forward("RCPT TO:<\"a>b\"@example.org>\r\n")),
    // Postfix: address literal of one of its own addresses → local → accept (listed here as [192.0.2.25]).
    ("RCPT TO:<postmaster@[192.0.2.25]>", .forward("RCPT TO:<postmaster@[192.0.2.25]>\r\n")),
    // Postfix: address literal of another host → 554 Relay access denied.
    ("RCPT TO:<bob@[198.51.100.7]>", .refuse(554)),
    // Postfix: IPv6 literal of another host → 554 Relay access denied.
    ("RCPT TO:<bob@[IPv6:2001:db8::1]>", .refuse(554)),
    // Postfix: bare postmaster is always accepted (RFC 5321 4.5.1) → accept.
    ("RCPT TO:<Postmaster>", .forward("RCPT TO:<Postmaster>\r\n")),
    // Postfix: unqualified name gets $myorigin appended → local → accept; mailtunnel cannot know $myorigin: 501.
    ("RCPT TO:<alice>", .refuse(501)),
    // Postfix: ESMTP parameters kept → accept.
    ("RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.org",
     .forward("RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.org\r\n")),
    // Postfix (strict_rfc821_envelopes = no): space after the colon tolerated → accept.
    ("RCPT TO: <alice@example.org>", .forward("RCPT TO:<alice@example.org>\r\n")),
    // Postfix (strict_rfc821_envelopes = no): missing brackets tolerated → accept; mailtunnel answers 501.
    ("RCPT TO:alice@example.org", .refuse(501)),
    // Postfix: a second address after the path is a bad parameter → 555/501; mailtunnel 501.
    ("RCPT TO:<alice@example.org> <bob@elsewhere.net>", .refuse(501)),
    // Postfix: empty recipient → 501 (bad address syntax).
    ("RCPT TO:<>", .refuse(501)),
    // Postfix: example..org is no local domain → 554; mailtunnel 501 (not a domain at all).
    ("RCPT TO:<alice@example..org>", .refuse(501)),
    // Postfix: the verb needs "TO:" → 501 Syntax.
    ("RCPT <alice@example.org>", .refuse(501)),
    // Postfix: 8-bit address without SMTPUTF8 → 553 5.6.7; mailtunnel 501 (ASCII domains only).
    ("RCPT TO:<alice@exämple.org>", .refuse(501)),
    // Postfix: tolerates the leading dot and accepts for a local domain; mailtunnel 501 (not a dot-string, stricter).
    ("RCPT TO:<.alice@example.org>", .refuse(501)),
]

@Suite("SMTP address parser and relay decisions")
struct SMTPAddressTests {
    @Test(arguments: table.indices)
    func recipientDecisionMatchesPostfix(_ index: Int) {
        let row = table[index]
        #expect(decide(row.line + "\r\n") == row.expected, "\(row.line)")
        #expect(decide(row.line + "\n") == row.expected, "\(row.line) with a bare LF")
    }

    @Test func refusalRepliesNameTheAddress() {
        #expect(unauthenticated.decideRecipient(Array("RCPT TO:<bob@elsewhere.net>\r\n".utf8)[...])
                == .refuse(Array("554 5.7.1 <bob@elsewhere.net>: Relay access denied\r\n".utf8)))
        #expect(unauthenticated.decideRecipient(Array("RCPT TO:<@a,@b:bob@example.org>\r\n".utf8)[...])
                == .refuse(Array("554 5.7.1 <@a,@b:bob@example.org>: Relay access denied\r\n".utf8)))
    }

    @Test func mailPathsAndNullSender() throws {
        let null = try SMTPAddressParser.parse(line: Array("MAIL FROM:<> SIZE=10\r\n".utf8)[...], verb: .mail)?.get()
        #expect(null == SMTPPathArgument(mailbox: nil, parameters: ["SIZE=10"]))
        #expect(SMTPAddressParser.parse(line: Array("RCPT TO:<a@b.c>".utf8)[...], verb: .mail) == nil)
        let long = "MAIL FROM:<" + String(repeating: "a", count: 250) + "@example.org>"
        #expect(SMTPAddressParser.parse(line: Array(long.utf8)[...], verb: .mail) == .failure(.syntax("address too long")))
    }

    @Test func localDomainPatterns() throws {
        let domains = try LocalDomains(["Example.ORG", "*.corp.example", ".lab.example"])
        #expect(domains.contains(domain: "example.org"))
        #expect(!domains.contains(domain: "www.example.org"))
        #expect(domains.contains(domain: "mx.corp.example") && domains.contains(domain: "a.b.lab.example"))
        #expect(!domains.contains(domain: "corp.example") && !domains.contains(domain: "xcorp.example"))
        #expect(throws: LocalDomainsError(entry: "exa mple")) { try LocalDomains(["exa mple"]) }
        #expect(throws: LocalDomainsError(entry: "*.[192.0.2.1]")) { try LocalDomains(["*.[192.0.2.1]"]) }
    }

    @Test func senderLoginMap() throws {
        let map = try SenderLoginMap(text: """
            # login  addresses
            alice   alice@example.org, Alice.Smith@Example.org
            bob     @sales.example.org
            alice   postmaster@example.org
            """)
        let policy = SMTPTransactionPolicy(sender: map.ownership(of: "alice"))
        func sender(_ line: String) -> String {
            switch policy.decideSender(Array(line.utf8)[...]) {
            case .forward(let bytes): return String(decoding: bytes, as: UTF8.self)
            case .refuse(let bytes): return String(decoding: bytes, as: UTF8.self)
            }
        }
        #expect(sender("MAIL FROM:<ALICE@example.ORG> SIZE=5\r\n") == "MAIL FROM:<ALICE@example.org> SIZE=5\r\n")
        #expect(sender("MAIL FROM:<alice.smith@example.org>\r\n") == "MAIL FROM:<alice.smith@example.org>\r\n")
        #expect(sender("MAIL FROM:<postmaster@example.org.>\r\n") == "MAIL FROM:<postmaster@example.org>\r\n")
        #expect(sender("MAIL FROM:<>\r\n") == "MAIL FROM:<>\r\n")
        #expect(sender("MAIL FROM:<alice@example.org> AUTH=<>\r\n") == "MAIL FROM:<alice@example.org> AUTH=<>\r\n")
        #expect(sender("MAIL FROM:<alice@example.org> X=\"y\r\n").hasPrefix("501 "))
        #expect(sender("MAIL FROM:<ceo@example.org>\r\n")
                == "553 5.7.1 <ceo@example.org>: Sender address rejected: not owned by user alice\r\n")
        #expect(sender("MAIL FROM:<x@sales.example.org>\r\n").hasPrefix("553 "))
        #expect(map.ownership(of: "bob").owns(SMTPMailbox(localPart: "x", domain: "sales.example.org")))
        #expect(!map.ownership(of: "carol").owns(SMTPMailbox(localPart: "carol", domain: "example.org")))
        #expect(throws: SenderLoginMapError(line: 1, message: "login 'dave' has no address")) {
            try SenderLoginMap(text: "dave\n")
        }
        #expect(throws: SenderLoginMapError(line: 2, message: "'@' is not @domain")) {
            try SenderLoginMap(text: "\ndave @\n")
        }
    }
}
