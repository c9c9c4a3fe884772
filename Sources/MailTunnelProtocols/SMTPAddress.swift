/// RFC 5321 envelope addresses as mailtunnel reads them from `MAIL FROM:` and `RCPT TO:` lines (section 4.1.2).
///
/// Every difference between this parser and the backend's is a possible relay hole, so where RFC 5321 and
/// Postfix's lenient reader disagree this parser is the stricter one, and the gate forwards a line it wrote
/// itself from the parse (`SMTPPathArgument.canonicalLine`), never the client's bytes: the backend can only read
/// the address mailtunnel decided on.
///
/// - Path: `<` [source route `:`] mailbox `>`, or `<>` (the null reverse-path). Angle brackets are required
///   (Postfix accepts a bare address with `strict_rfc821_envelopes = no`; we answer 501). Spaces between the
///   colon and `<` are tolerated, as every MTA does.
/// - A source route (`@a,@b:user@dom`) is refused: RFC 5321 says to ignore it, Postfix strips it and then
///   refuses to relay a routed address from an unauthorised client (`allow_untrusted_routing = no`).
/// - Local part: dot-string (atext atoms, single dots) or quoted string (qtext and `\` pairs, printable ASCII).
///   Kept as written, quotes included. `%`, `!` and `@` in it are flagged (`hasRoutingCharacters`): the percent
///   hack and bang paths make Postfix route `user%other@local` and `other!user@local` away from the local domain.
/// - Domain: LDH labels (underscore tolerated), ASCII only, at most 255 octets; lowercased, one trailing dot
///   dropped (Postfix does the same before its table lookups). Or an address literal `[...]` / `[IPv6:...]`,
///   kept lowercased with its brackets.
/// - `<postmaster>` without a domain is accepted (RFC 5321 4.5.1 requires it); any other address without a
///   domain is refused as a syntax error.
/// - ESMTP parameters: `keyword[=value]` separated by spaces, keyword starting with a letter or digit, value octets
///   33-126 except `=` (RFC 5321 esmtp-value; `AUTH=<>` is one) and `"` (which a lenient tokenizer could read as
///   the start of a quoted word). The path always comes first in the line mailtunnel writes, so a parameter can
///   never be read as the address.
public struct SMTPMailbox: Equatable, Sendable {
    /// As written, quotes and escapes included.
    public var localPart: String
    /// Lowercased without a trailing dot; an address literal keeps its brackets; nil only for `<postmaster>`.
    public var domain: String?

    public init(localPart: String, domain: String?) {
        self.localPart = localPart
        self.domain = domain
    }

    /// The local part holds a percent-hack, bang-path or extra `@` character.
    public var hasRoutingCharacters: Bool {
        localPart.utf8.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "!") || $0 == UInt8(ascii: "@") }
    }

    public var isAddressLiteral: Bool { domain?.hasPrefix("[") ?? false }

    /// `local@domain` as the gate writes it back.
    public var text: String { domain.map { "\(localPart)@\($0)" } ?? localPart }
}

/// The argument of `MAIL FROM:` or `RCPT TO:`: a path and its ESMTP parameters.
public struct SMTPPathArgument: Equatable, Sendable {
    /// nil for the null path `<>`.
    public var mailbox: SMTPMailbox?
    public var parameters: [String]

    /// `MAIL FROM:<path> params` / `RCPT TO:<path> params`, CRLF included: the line the backend gets.
    public func canonicalLine(verb: SMTPPathVerb) -> [UInt8] {
        let head = verb == .mail ? "MAIL FROM:" : "RCPT TO:"
        let params = parameters.map { " " + $0 }.joined()
        return Array("\(head)<\(mailbox?.text ?? "")>\(params)\r\n".utf8)
    }
}

public enum SMTPPathVerb: Sendable { case mail, rcpt }

/// Why an address argument was refused, as the client is told.
public enum SMTPAddressError: Error, Equatable, Sendable {
    case syntax(String)
    case sourceRoute

    public var reply: String {
        switch self {
        case .syntax(let detail): return "501 5.1.3 Bad address syntax: \(detail)\r\n"
        case .sourceRoute: return "501 5.1.3 Source routes are not accepted\r\n"
        }
    }
}

public enum SMTPAddressParser {
    /// RFC 5321 4.5.3.1.3: a path is at most 256 octets.
    public static let maxPathLength = 256
    static let maxDomainLength = 255

    /// Parses a complete command line (terminator optional). Returns nil when the line is not `verb`.
    public static func parse(line: ArraySlice<UInt8>, verb: SMTPPathVerb) -> Result<SMTPPathArgument, SMTPAddressError>? {
        var content = line
        while let last = content.last, last == 0x0A || last == 0x0D { content = content.dropLast() }
        let prefix = verb == .mail ? "MAIL FROM:" : "RCPT TO:"
        guard content.asciiHasUppercasePrefix(prefix) else { return nil }
        return parseArgument(content.dropFirst(prefix.utf8.count), allowNull: verb == .mail)
    }

    /// Parses what follows `FROM:` / `TO:`.
    public static func parseArgument(_ bytes: ArraySlice<UInt8>, allowNull: Bool) -> Result<SMTPPathArgument, SMTPAddressError> {
        var rest = bytes.drop { $0 == UInt8(ascii: " ") }
        guard rest.first == UInt8(ascii: "<") else { return .failure(.syntax("expected <address>")) }
        rest = rest.dropFirst()
        guard let close = closingBracket(rest) else { return .failure(.syntax("unterminated <address>")) }
        let path = rest[rest.startIndex..<close]
        guard path.count <= maxPathLength else { return .failure(.syntax("address too long")) }
        let parameters: [String]
        switch parseParameters(rest[(close + 1)...]) {
        case .success(let list): parameters = list
        case .failure(let error): return .failure(error)
        }
        if path.isEmpty {
            return allowNull ? .success(SMTPPathArgument(mailbox: nil, parameters: parameters))
                : .failure(.syntax("empty recipient"))
        }
        if path.first == UInt8(ascii: "@") { return .failure(.sourceRoute) }
        return parseMailbox(path).map { SMTPPathArgument(mailbox: $0, parameters: parameters) }
    }

    /// The `>` that closes the path: the first one outside a quoted string.
    static func closingBracket(_ bytes: ArraySlice<UInt8>) -> Int? {
        var quoted = false
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if quoted && byte == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if byte == UInt8(ascii: "\"") { quoted.toggle() }
            if !quoted && byte == UInt8(ascii: ">") { return index }
            index += 1
        }
        return nil
    }

    /// A mailbox: local-part `@` domain, or the bare `postmaster`.
    public static func parseMailbox(_ path: ArraySlice<UInt8>) -> Result<SMTPMailbox, SMTPAddressError> {
        guard let localEnd = localPartEnd(path) else { return .failure(.syntax("bad local part")) }
        let local = path[path.startIndex..<localEnd]
        guard localEnd < path.endIndex else {
            // RFC 5321 4.5.1: <Postmaster> without a domain must be accepted; no other unqualified address is.
            guard local.asciiEqualsUppercase("POSTMASTER") else { return .failure(.syntax("address without a domain")) }
            return .success(SMTPMailbox(localPart: String(decoding: local, as: UTF8.self), domain: nil))
        }
        guard path[localEnd] == UInt8(ascii: "@") else { return .failure(.syntax("bad local part")) }
        guard let domain = parseDomain(path[(localEnd + 1)...]) else { return .failure(.syntax("bad domain")) }
        return .success(SMTPMailbox(localPart: String(decoding: local, as: UTF8.self), domain: domain))
    }

    /// Where a valid local part ends (the index of its `@`, or the end); nil if it is not valid.
    static func localPartEnd(_ path: ArraySlice<UInt8>) -> Int? {
        guard let first = path.first else { return nil }
        if first == UInt8(ascii: "\"") { return quotedStringEnd(path) }
        var index = path.startIndex
        var previousDot = true  // no leading dot
        while index < path.endIndex, path[index] != UInt8(ascii: "@") {
            let byte = path[index]
            if byte == UInt8(ascii: ".") {
                if previousDot { return nil }
                previousDot = true
            } else if isAtext(byte) {
                previousDot = false
            } else {
                return nil
            }
            index += 1
        }
        return previousDot ? nil : index  // no empty or trailing-dot local part
    }

    /// The index just past the closing quote; nil if the quoted string is not valid RFC 5321.
    static func quotedStringEnd(_ path: ArraySlice<UInt8>) -> Int? {
        var index = path.startIndex + 1
        while index < path.endIndex {
            let byte = path[index]
            if byte == UInt8(ascii: "\"") { return index + 1 }
            if byte == UInt8(ascii: "\\") {
                // quoted-pairSMTP: %d92 %d32-126
                guard index + 1 < path.endIndex, (32...126).contains(path[index + 1]) else { return nil }
                index += 2
                continue
            }
            // qtextSMTP: %d32-33 / %d35-91 / %d93-126
            guard (32...126).contains(byte) else { return nil }
            index += 1
        }
        return nil
    }

    /// RFC 5322 atext.
    static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(byte)
        }
    }

    /// A domain (LDH labels, trailing dot dropped, lowercased) or an address literal; nil if neither.
    public static func parseDomain(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.isEmpty, bytes.count <= maxDomainLength else { return nil }
        if bytes.first == UInt8(ascii: "[") {
            // address-literal: "[" dcontent "]", dtext %d33-90 / %d94-126.
            guard bytes.count > 2, bytes.last == UInt8(ascii: "]"),
                  bytes.dropFirst().dropLast().allSatisfy({ (33...90).contains($0) || (94...126).contains($0) })
            else { return nil }
            return String(decoding: bytes.map(\.asciiLowercased), as: UTF8.self)
        }
        var name = bytes
        if name.last == UInt8(ascii: ".") { name = name.dropLast() }
        let labels = name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.count <= 63,
                  label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                  label.allSatisfy({ isAtext($0) && ($0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")) })
            else { return nil }
        }
        return String(decoding: name.map(\.asciiLowercased), as: UTF8.self)
    }

    /// ESMTP parameters after the path: space-separated `keyword[=value]`.
    static func parseParameters(_ bytes: ArraySlice<UInt8>) -> Result<[String], SMTPAddressError> {
        guard bytes.isEmpty || bytes.first == UInt8(ascii: " ") else {
            return .failure(.syntax("expected a space after the address"))
        }
        var parameters: [String] = []
        for word in bytes.split(separator: UInt8(ascii: " ")) {
            let keyword = word.prefix { $0 != UInt8(ascii: "=") }
            let value = word.dropFirst(keyword.count + 1)
            guard let head = keyword.first, head.isASCIIAlphanumeric,
                  keyword.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") }),
                  keyword.count == word.count || !value.isEmpty,
                  value.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\"") })
            else { return .failure(.syntax("bad parameter")) }
            parameters.append(String(decoding: word, as: UTF8.self))
        }
        return .success(parameters)
    }
}

extension UInt8 {
    var asciiLowercased: UInt8 {
        self >= UInt8(ascii: "A") && self <= UInt8(ascii: "Z") ? self + 32 : self
    }

    var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
