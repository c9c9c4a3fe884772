/// Which certificate group serves a client's SNI name. Pure, so the rules are unit-tested without OpenSSL.
///
/// Rules (as nginx and HAProxy choose): names compare case-insensitively and without a trailing dot; an exact
/// name wins over a wildcard anywhere in the list; a wildcard `*.example.org` covers exactly one more label
/// (`a.example.org`, not `example.org` or `a.b.example.org`); among equal matches the group listed first wins;
/// no match gives nil (the caller serves its default, the first pair).
public enum ServerNameMatcher {
    /// The index of the group whose names match `serverName`.
    public static func group(for serverName: String, in groups: [[String]]) -> Int? {
        let host = normalized(serverName)
        guard !host.isEmpty else { return nil }
        if let exact = groups.firstIndex(where: { $0.contains { normalized($0) == host } }) { return exact }
        return groups.firstIndex { $0.contains { wildcard(normalized($0), covers: host) } }
    }

    /// `*.example.org` covers `a.example.org`: one non-empty label in place of the star, nothing more.
    public static func wildcard(_ pattern: String, covers host: String) -> Bool {
        guard pattern.hasPrefix("*."), pattern.count > 2 else { return false }
        let suffix = pattern.dropFirst(1)  // ".example.org"
        guard host.hasSuffix(suffix) else { return false }
        let label = host.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".")
    }

    static func normalized(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }
}
