/// How stunnel spells an option and how its value converts: part of the option's declaration, so the
/// translator, the "did you mean" hint and the README's stunnel column all read the same entry.
public struct StunnelSpelling: Sendable {
    /// The stunnel keys this option is translated from.
    let keys: [StunnelKey]
    /// The README cell: the keys, or a note such as `protocol = imap|pop3|smtp` when only some values map here.
    public let text: String

    init(_ keys: [StunnelKey], shown text: String? = nil) {
        self.keys = keys
        self.text = text ?? keys.map(\.name).joined(separator: ", ")
    }

    /// One stunnel key whose value passes through unchanged.
    static func same(_ name: String, globalOnly: Bool = false) -> Self {
        Self([StunnelKey(name, globalOnly: globalOnly, .same)])
    }

    /// One stunnel key whose value is converted; the conversion returns nil when this option is not set by it.
    static func converted(_ name: String, shown text: String? = nil, globalOnly: Bool = false,
                          _ convert: @escaping @Sendable (String) throws(OptionValueError) -> String?) -> Self {
        Self([StunnelKey(name, globalOnly: globalOnly, .value(convert))], shown: text)
    }
}

/// One stunnel option name and what it does to the native option declaring it.
struct StunnelKey: Sendable {
    enum Conversion: Sendable {
        /// Same meaning and value syntax.
        case same
        /// The value converted into the native syntax; nil emits nothing.
        case value(@Sendable (String) throws(OptionValueError) -> String?)
        /// One of stunnel's certificate-checking switches: they combine into one `verify` at the end of a section.
        case verifySwitch(@Sendable (String, inout StunnelVerifySwitches) throws(OptionValueError) -> Void)
    }

    let name: String
    /// stunnel accepts it only before the first `[service]`.
    let globalOnly: Bool
    let conversion: Conversion

    init(_ name: String, globalOnly: Bool = false, _ conversion: Conversion) {
        self.name = name
        self.globalOnly = globalOnly
        self.conversion = conversion
    }

    func matches(_ written: String) -> Bool { name.lowercased() == written.lowercased() }
}

/// stunnel's value converters that more than one declaration uses.
enum StunnelValues {
    static func yesNo(_ value: String) throws(OptionValueError) -> Bool {
        switch value.lowercased() {
        case "yes": return true
        case "no": return false
        default: throw OptionValueError("the argument needs to be either 'yes' or 'no', got '\(value)'")
        }
    }

    /// stunnel splits at the last colon and writes IPv6 unbracketed; mailtunnel wants brackets.
    static func nativeAddress(_ value: String) throws(OptionValueError) -> String {
        if value.hasPrefix("/") { throw OptionValueError("Unix sockets are not supported, got '\(value)'") }
        guard !value.contains("["), let colon = value.lastIndex(of: ":") else { return value }
        let host = value[..<colon]
        let port = value[value.index(after: colon)...]
        if host.isEmpty { return String(port) }
        return host.contains(":") ? "[\(host)]:\(port)" : value
    }

    /// stunnel's `debug = [facility.]level`, level as a syslog name or number 0-7.
    static func logLevel(fromDebug value: String) throws(OptionValueError) -> LogLevelName {
        let level = value.split(separator: ".").last.map { String($0).lowercased() } ?? ""
        switch level {
        case "0", "emerg", "1", "alert", "2", "crit": return .critical
        case "3", "err": return .error
        case "4", "warning": return .warning
        // stunnel logs each connection at notice (its default level, 5); mailtunnel logs them at info.
        case "5", "notice", "6", "info": return .info
        case "7", "debug": return .debug
        default: throw OptionValueError("expected a syslog level (emerg..debug or 0-7), got '\(value)'")
        }
    }

    /// `protocol = imap|pop3|smtp` is stunnel's server-side STARTTLS; nil for the other protocols it knows.
    static func startTLSProtocol(_ value: String) -> String? {
        let name = value.lowercased()
        return ["imap", "pop3", "smtp"].contains(name) ? name : nil
    }
}
