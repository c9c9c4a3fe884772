/// stunnel lines found in real (Debian) stunnel.conf files that change nothing under mailtunnel's fixed defaults.
/// They are accepted with one warning each, saying why, so a migration does not stop on them; a value that
/// would weaken security or change behaviour (`options = -NO_SSLv3`, `renegotiation = yes`) stays an error.
enum StunnelNoEffectOptions {
    static let keys: Set<String> = ["options", "socket", "renegotiation", "syslog"]

    /// Why the line has no effect (the warning's text); throws for a value mailtunnel cannot honour.
    static func reason(key: String, value: String) throws(OptionValueError) -> String {
        switch key {
        case "options": return try sslOption(value)
        case "socket": return try socketOption(value)
        case "renegotiation":
            guard try !StunnelValues.yesNo(value) else {
                throw OptionValueError("renegotiation = yes is not supported; mailtunnel never allows renegotiation")
            }
            return "mailtunnel never allows renegotiation"
        default:  // syslog
            _ = try StunnelValues.yesNo(value)
            return "mailtunnel logs to one target; choose it with `log` (stderr, syslog, journal or a file)"
        }
    }

    private static let sslOptions: [String: String] = [
        "NO_SSLV2": "mailtunnel never offers SSL or TLS below 1.2",
        "NO_SSLV3": "mailtunnel never offers SSL or TLS below 1.2",
        "NO_TLSV1": "mailtunnel never offers SSL or TLS below 1.2",
        "NO_TLSV1_1": "mailtunnel never offers SSL or TLS below 1.2",
        "NO_TLSV1.1": "mailtunnel never offers SSL or TLS below 1.2",
        "NO_COMPRESSION": "mailtunnel never compresses",
        "CIPHER_SERVER_PREFERENCE": "mailtunnel always applies its own cipher order",
        "SINGLE_DH_USE": "OpenSSL 3 uses a fresh ephemeral key for every handshake",
        "SINGLE_ECDH_USE": "OpenSSL 3 uses a fresh ephemeral key for every handshake",
        "NO_RENEGOTIATION": "mailtunnel never allows renegotiation",
    ]

    /// `options = NAME` (stunnel also takes `-NAME` to clear an option: clearing any of these weakens TLS).
    private static func sslOption(_ value: String) throws(OptionValueError) -> String {
        let name = value.uppercased()
        if let reason = sslOptions[name] { return reason }
        if name.hasPrefix("-"), sslOptions[String(name.dropFirst())] != nil {
            throw OptionValueError("clearing \(name.dropFirst()) would weaken TLS; mailtunnel keeps it set")
        }
        throw OptionValueError("only options with no effect on mailtunnel's defaults are accepted ("
                               + sslOptions.keys.sorted().joined(separator: ", ") + "), got '\(value)'")
    }

    private static let socketOptions: [String: String] = [
        "TCP_NODELAY": "mailtunnel sets TCP_NODELAY on both sides",
        "SO_REUSEADDR": "mailtunnel sets SO_REUSEADDR on its listening sockets",
        "SO_KEEPALIVE": "mailtunnel closes connections silent for idle-timeout instead of using TCP keepalive",
        "TCP_KEEPIDLE": "mailtunnel closes connections silent for idle-timeout instead of using TCP keepalive",
        "TCP_KEEPINTVL": "mailtunnel closes connections silent for idle-timeout instead of using TCP keepalive",
        "TCP_KEEPCNT": "mailtunnel closes connections silent for idle-timeout instead of using TCP keepalive",
    ]

    /// `socket = a|l|r:OPTION=VALUE` (all, local/accepting, remote/backend side).
    private static func socketOption(_ value: String) throws(OptionValueError) -> String {
        let parts = value.split(separator: ":", maxSplits: 1)
        let option = parts.count == 2 ? parts[1].split(separator: "=", maxSplits: 1).first.map(String.init) : nil
        guard parts.count == 2, ["a", "l", "r"].contains(parts[0].lowercased()), let option,
              let reason = socketOptions[option.trimmingSpaces.uppercased()] else {
            throw OptionValueError("only socket options with no effect on mailtunnel are accepted ("
                                   + socketOptions.keys.sorted().joined(separator: ", ")
                                   + " with an a:, l: or r: prefix), got '\(value)'")
        }
        return reason
    }
}
