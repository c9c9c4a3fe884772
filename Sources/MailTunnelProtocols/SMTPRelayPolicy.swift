/// The main relay's rules for one SMTP session, decided once the gate knows who the client is:
/// - authenticated (SASL after TLS, or a verified certificate): relays anywhere; with a `sender-login-map`, its
///   `MAIL FROM` must be one of its login's addresses;
/// - from a `trusted-networks` address: relays anywhere, any sender;
/// - anyone else, when `local-domains` is given: may deliver to those domains only.
///
/// The relay guard applies the policy line by line (SMTPRelayGuard+Policy.swift); a checked line reaches the
/// backend only as the line the policy wrote from its parse.
public struct SMTPTransactionPolicy: Sendable, Equatable {
    /// nil: any recipient. Otherwise only these domains (the unauthenticated client's case).
    public var recipients: LocalDomains?
    /// The authenticated login whose senders are checked, and what it may send as; nil: any sender.
    public var sender: SenderOwnership?

    public init(recipients: LocalDomains? = nil, sender: SenderOwnership? = nil) {
        self.recipients = recipients
        self.sender = sender
    }

    /// No checks: the guard watches for injected commands only.
    public static let open = SMTPTransactionPolicy()

    public var checksAnything: Bool { recipients != nil || sender != nil }

    /// What to do with a checked line.
    public enum Decision: Equatable, Sendable {
        /// Send this line (CRLF included) to the backend in place of the client's.
        case forward([UInt8])
        /// Answer the client with this reply (CRLF included); nothing reaches the backend.
        case refuse([UInt8])
    }

    /// Decides a `RCPT` line (the whole line from its verb, terminator optional).
    public func decideRecipient(_ line: ArraySlice<UInt8>) -> Decision {
        guard let recipients else { return .forward(Array(line)) }
        switch SMTPAddressParser.parse(line: line, verb: .rcpt) {
        case nil:
            return .refuse(ascii("501 5.5.4 Syntax: RCPT TO:<address>\r\n"))
        case .failure(.sourceRoute):
            // Postfix strips the route, marks the address routed and refuses it to unauthorised clients.
            return .refuse(ascii("554 5.7.1 \(Self.shown(line)): Relay access denied\r\n"))
        case .failure(let error):
            return .refuse(ascii(error.reply))
        case .success(let argument):
            guard let mailbox = argument.mailbox, recipients.admits(mailbox) else {
                let shown = argument.mailbox.map { "<\($0.text)>" } ?? "<>"
                return .refuse(ascii("554 5.7.1 \(shown): Relay access denied\r\n"))
            }
            return .forward(argument.canonicalLine(verb: .rcpt))
        }
    }

    /// Decides a `MAIL` line.
    public func decideSender(_ line: ArraySlice<UInt8>) -> Decision {
        guard let sender else { return .forward(Array(line)) }
        switch SMTPAddressParser.parse(line: line, verb: .mail) {
        case nil:
            return .refuse(ascii("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"))
        case .failure(let error):
            return .refuse(ascii(error.reply))
        case .success(let argument):
            // The null sender (bounces, RFC 5321 4.5.5) impersonates nobody.
            guard let mailbox = argument.mailbox, !sender.owns(mailbox) else {
                return .forward(argument.canonicalLine(verb: .mail))
            }
            return .refuse(ascii("553 5.7.1 <\(mailbox.text)>: Sender address rejected: not owned by user \(sender.login)\r\n"))
        }
    }

    /// The `<...>` of a refused line as the client wrote it, for the reply (control bytes cannot occur: lines end
    /// at LF and the parser refuses the rest before this is used for anything but a source route).
    static func shown(_ line: ArraySlice<UInt8>) -> String {
        guard let open = line.firstIndex(of: UInt8(ascii: "<")),
              let close = line[open...].firstIndex(of: UInt8(ascii: ">")) else { return "<>" }
        let text = line[open...close].filter { (32...126).contains($0) }
        return String(decoding: text, as: UTF8.self)
    }
}

/// `local-domains`: `example.org` is that domain; `.example.org` and `*.example.org` its subdomains (not the
/// domain itself, as in Postfix's tables; list both for both); `[192.0.2.1]` an address literal, written as
/// clients write it.
public struct LocalDomains: Sendable, Equatable {
    public private(set) var exact: Set<String> = []
    public private(set) var parents: [String] = []

    /// nil (with the offending entry) when an entry is not a domain.
    public init(_ entries: [String]) throws(LocalDomainsError) {
        for entry in entries {
            var name = entry.lowercased()
            var subdomains = false
            if name.hasPrefix("*.") { name.removeFirst(2); subdomains = true } else if name.hasPrefix(".") {
                name.removeFirst(); subdomains = true
            }
            guard let domain = SMTPAddressParser.parseDomain(Array(name.utf8)[...]),
                  !(subdomains && domain.hasPrefix("[")) else { throw LocalDomainsError(entry: entry) }
            if subdomains { parents.append(domain) } else { exact.insert(domain) }
        }
    }

    public func contains(domain: String) -> Bool {
        exact.contains(domain) || parents.contains { domain.hasSuffix("." + $0) }
    }

    /// An unauthenticated client may send to `mailbox`: `<postmaster>`, or a local domain without percent-hack,
    /// bang-path or extra `@` in the local part (each would make the backend route the mail elsewhere).
    public func admits(_ mailbox: SMTPMailbox) -> Bool {
        guard !mailbox.hasRoutingCharacters else { return false }
        guard let domain = mailbox.domain else { return true }
        return contains(domain: domain)
    }
}

public struct LocalDomainsError: Error, Equatable {
    public var entry: String
}

/// A listener's relay settings (`local-domains`, `sender-login-map`, whether `auth` is set), from which each
/// session's `SMTPTransactionPolicy` follows once the gate knows who its client is.
public struct SMTPRelayRules: Sendable, Equatable {
    /// `auth = sasl|certificate`: a client that is neither authenticated nor trusted may not relay.
    public var authenticationRequired: Bool
    public var localDomains: LocalDomains?
    public var senderLogins: SenderLoginMap?

    public init(authenticationRequired: Bool, localDomains: LocalDomains? = nil, senderLogins: SenderLoginMap? = nil) {
        self.authenticationRequired = authenticationRequired
        self.localDomains = localDomains
        self.senderLogins = senderLogins
    }

    public static let none = SMTPRelayRules(authenticationRequired: false)

    /// The policy for a client authenticated as `login` (nil: not authenticated), from a trusted network or not;
    /// nil when the client must authenticate before any transaction (530).
    public func policy(login: String?, trusted: Bool) -> SMTPTransactionPolicy? {
        if let login { return SMTPTransactionPolicy(sender: senderLogins?.ownership(of: login)) }
        if trusted || !authenticationRequired { return .open }
        return localDomains.map { SMTPTransactionPolicy(recipients: $0) }
    }
}
