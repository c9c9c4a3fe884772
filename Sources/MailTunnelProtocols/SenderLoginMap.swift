/// `sender-login-map`: which envelope senders each login may use, like Postfix's `smtpd_sender_login_maps` read
/// the other way round. One line per login: `login  address-or-@domain ...` (spaces, tabs or commas between
/// entries; `#` starts a comment; a login on several lines gets all of them). `@example.org` is every address
/// in that domain. Addresses and domains compare case-insensitively (as Postfix's table lookups do); logins
/// exactly, as the SASL layer or the certificate gives them.
public struct SenderLoginMap: Sendable, Equatable {
    var entries: [String: SenderOwnership] = [:]

    public init(text: String) throws(SenderLoginMapError) {
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.prefix { $0 != "#" }
            let words = line.split { $0 == " " || $0 == "\t" || $0 == "," || $0 == "\r" }.map(String.init)
            guard let login = words.first else { continue }
            guard words.count > 1 else {
                throw SenderLoginMapError(line: number + 1, message: "login '\(login)' has no address")
            }
            var owned = entries[login] ?? SenderOwnership(login: login)
            for word in words.dropFirst() {
                if word.hasPrefix("@") {
                    guard let domain = SMTPAddressParser.parseDomain(Array(word.utf8).dropFirst()) else {
                        throw SenderLoginMapError(line: number + 1, message: "'\(word)' is not @domain")
                    }
                    owned.domains.insert(domain)
                } else {
                    guard case .success(let mailbox) = SMTPAddressParser.parseMailbox(Array(word.utf8)[...]),
                          let address = mailbox.canonicalAddress else {
                        throw SenderLoginMapError(line: number + 1, message: "'\(word)' is not an address")
                    }
                    owned.addresses.insert(address)
                }
            }
            entries[login] = owned
        }
    }

    /// What `login` may send as; a login not in the map owns nothing.
    public func ownership(of login: String) -> SenderOwnership {
        entries[login] ?? SenderOwnership(login: login)
    }
}

/// The senders one login may use.
public struct SenderOwnership: Sendable, Equatable {
    public var login: String
    var addresses: Set<String> = []
    var domains: Set<String> = []

    public func owns(_ mailbox: SMTPMailbox) -> Bool {
        guard let domain = mailbox.domain, let address = mailbox.canonicalAddress else { return false }
        return addresses.contains(address) || domains.contains(domain)
    }
}

public struct SenderLoginMapError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

extension SMTPMailbox {
    /// Lowercased `local@domain` for comparisons; nil without a domain.
    var canonicalAddress: String? { domain.map { "\(localPart.lowercased())@\($0)" } }
}
