import Logging

/// swift-log metadata is a dictionary, so the order of a line's fields is kept here, once for every message:
/// readers and tests know `connection ended listener=… client=… … reason=…` in that order. One global order
/// serves every message because each message's fields are a subsequence of it. A key not listed comes after
/// the listed ones, alphabetically; list it here to place it.
enum LogFieldOrder {
    static let keys: [String] = [
        "loop", "listener", "accept", "connect", "protocol", "mode", "socket",
        "client", "trusted", "tls", "cipher", "peer", "serial", "identity", "user", "backend", "server_tls", "resumed",
        "path", "cert", "subject", "names", "key_type", "not_after", "days_left", "fingerprint", "status", "next_update",
        "address",
        "in", "out", "failures", "duration", "reason", "backend_error", "via", "auth_failures", "unlogged_since_last",
        "error", "retry_in_ms",
        "limit", "needed", "uid", "gid", "listeners", "added", "removed", "connections", "grace", "signal",
        "keys", "lifetime",
    ]

    private static let rank: [String: Int] = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })

    static func sorted(_ metadata: Logger.Metadata) -> [(key: String, value: Logger.MetadataValue)] {
        metadata.sorted { left, right in
            let leftRank = rank[left.key] ?? keys.count
            let rightRank = rank[right.key] ?? keys.count
            return leftRank != rightRank ? leftRank < rightRank : left.key < right.key
        }
    }
}
