import Foundation

/// The result of reading a stunnel.conf: native listeners plus the stunnel-only process settings.
struct StunnelTranslation: Sendable {
    var listeners: [RawListener] = []
    /// stunnel `foreground = yes|quiet` (true) or `no` (false); nil when not given.
    var foreground: Bool?
    /// stunnel `output = FILE`: where stunnel logged.
    var output: String?
}

/// Translates the mail subset of stunnel.conf into native assignments, with stunnel's semantics
/// (learned from mtrojnar/stunnel src/options.c):
/// - option names are case-insensitive; `#` and `;` start comment lines; there are no trailing comments;
/// - options before the first `[service]` are defaults for every service, and repeatable ones
///   (`connect`, `checkHost`, `checkEmail`) accumulate from the defaults into each service;
/// - `pid`, `setuid`, `setgid`, `foreground`, `output` are global-only; `pid =` (empty) means no pid file;
/// - `accept = 993` binds all interfaces, `connect = 143` means localhost; stunnel splits HOST:PORT at the
///   last colon, so `:::993` is IPv6 any;
/// - `verify = 0..4` sets request/require/verifyChain/verifyPeer; `verifyChain`, `verifyPeer`, `requireCert`
///   set them individually; the final combination maps to `verify`:
///   chain+require -> require, chain alone -> optional, nothing (level 0: request and ignore) -> none.
///   verifyPeer (levels 3, 4: trust only locally installed leaf certificates) and requireCert without a chain
///   check have no equivalent and are refused rather than weakened;
/// - `protocol = imap|pop3|smtp` is stunnel's server-side STARTTLS: `protocol` + `starttls = yes`;
///   `protocol = proxy` sends a PROXY v1 header: `proxy-protocol = v1`;
/// - `TIMEOUTbusy` (seconds to wait for expected data; stunnel applies it to the handshake and
///   protocol negotiation) -> `handshake-timeout`; `TIMEOUTidle`, `TIMEOUTconnect` -> idle/connect timeouts.
///   Timeouts not given keep mailtunnel's defaults (not stunnel's 300s/12h), as `--check` shows;
/// - `failover = prio` is mailtunnel's behaviour; `rr`, `client = yes` and every option outside the subset are
///   errors naming the option and line, never silently ignored.
enum StunnelConfigTranslator {
    static func load(path: String) -> (StunnelTranslation, [ConfigError]) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            return (StunnelTranslation(), [ConfigError(ConfigLocation(file: path, line: nil), key: nil,
                                                       "cannot read the stunnel config (missing, unreadable or not UTF-8)")])
        }
        return translate(text: text, file: path)
    }

    /// stunnel's four certificate-checking switches, tracked per scope because each option sets several.
    struct VerifyFlags {
        var request = false, require = false, chain = false, peer = false
        /// The last line that changed them: errors and the emitted `verify` point at it.
        var lastLine: Assignment?
    }

    struct Scope {
        var name: String?
        var location: ConfigLocation
        var assignments: [Assignment] = []
        var verify = VerifyFlags()
    }

    static func translate(text: String, file: String) -> (StunnelTranslation, [ConfigError]) {
        var translation = StunnelTranslation()
        var errors: [ConfigError] = []
        var global = Scope(name: nil, location: ConfigLocation(file: file, line: nil))
        var sections: [Scope] = []

        var lineNumber = 0
        for rawLine in ConfigFileParser.configLines(text) {
            lineNumber += 1
            let location = ConfigLocation(file: file, line: lineNumber)
            let line = rawLine.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }

            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = String(line.dropFirst().dropLast())
                if !ConfigFileParser.isValidName(name) {
                    errors.append(ConfigError(location, key: nil, "service name '\(name)' may only use letters, digits and . _ - @ : [ ]"))
                }
                // stunnel copies the defaults (including the verify switches) into each new service.
                var section = Scope(name: name, location: location)
                section.verify = global.verify
                sections.append(section)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                errors.append(ConfigError(location, key: nil, "no '=' found in '\(line)'"))
                continue
            }
            let written = line[..<equals].trimmingSpaces
            let value = line[line.index(after: equals)...].trimmingSpaces
            let inGlobal = sections.isEmpty

            do {
                if inGlobal {
                    try translateLine(written, value, location, scope: &global, translation: &translation, isGlobal: true)
                } else {
                    try translateLine(written, value, location, scope: &sections[sections.count - 1],
                                      translation: &translation, isGlobal: false)
                }
            } catch {
                errors.append(ConfigError(location, key: written, error.expected))
            }
        }

        if sections.isEmpty {
            errors.append(ConfigError(ConfigLocation(file: file, line: nil), key: nil,
                                      "no [service] sections; mailtunnel needs at least one service to listen for"))
        }
        // Each service started from a copy of the defaults' switches, so its own state is final;
        // a problem inherited from the defaults is reported once, at its line.
        var reported: Set<ConfigLocation> = []
        for section in sections {
            var verify: [Assignment] = []
            do { verify = try verifyAssignment(section.verify) } catch {
                if reported.insert(error.location).inserted { errors.append(error) }
            }
            // Concatenated, not layered: stunnel's per-service values override defaults in order,
            // and its lists (connect, checkHost) accumulate.
            translation.listeners.append(RawListener(name: section.name ?? "", location: section.location,
                                                     assignments: global.assignments + section.assignments + verify))
        }
        return (translation, errors)
    }

    private static func translateLine(_ written: String, _ value: String, _ location: ConfigLocation,
                                      scope: inout Scope, translation: inout StunnelTranslation,
                                      isGlobal: Bool) throws(OptionValueError) {
        func emit(_ key: String, _ nativeValue: String) {
            scope.assignments.append(Assignment(key: key, value: nativeValue, location: location, writtenKey: written))
        }
        func yesNo() throws(OptionValueError) -> Bool {
            switch value.lowercased() {
            case "yes": return true
            case "no": return false
            default: throw OptionValueError("the argument needs to be either 'yes' or 'no', got '\(value)'")
            }
        }
        let name = written.lowercased()
        let globalOnly: Set<String> = ["pid", "setuid", "setgid", "foreground", "output"]
        if globalOnly.contains(name), !isGlobal {
            throw OptionValueError("is a global option; move it before the first [service]")
        }

        switch name {
        case "pid":
            if !value.isEmpty { emit("pid-file", value) }
        case "foreground":
            switch value.lowercased() {
            case "yes", "quiet": translation.foreground = true
            case "no": translation.foreground = false
            default: throw OptionValueError("the argument needs to be either 'yes', 'quiet' or 'no', got '\(value)'")
            }
        case "output":
            translation.output = value
        case "debug":
            emit("log-level", try logLevel(fromDebug: value).rawValue)
        case "accept":
            emit("accept", try nativeAddress(value))
        case "connect":
            emit("connect", try nativeAddress(value))
        case "verify":
            guard let level = Int(value), (0...4).contains(level) else {
                throw OptionValueError("bad verify level '\(value)'; stunnel levels are 0 to 4")
            }
            scope.verify.request = true
            scope.verify.require = level >= 2
            scope.verify.chain = (1...3).contains(level)
            scope.verify.peer = level >= 3
            scope.verify.lastLine = Assignment(key: "verify", value: value, location: location, writtenKey: written)
        case "verifychain":
            let on = try yesNo()
            if on { scope.verify.request = true; scope.verify.require = true }
            scope.verify.chain = on
            scope.verify.lastLine = Assignment(key: "verify", value: value, location: location, writtenKey: written)
        case "verifypeer":
            let on = try yesNo()
            if on { scope.verify.request = true; scope.verify.require = true }
            scope.verify.peer = on
            scope.verify.lastLine = Assignment(key: "verify", value: value, location: location, writtenKey: written)
        case "requirecert":
            let on = try yesNo()
            if on { scope.verify.request = true }
            scope.verify.require = on
            scope.verify.lastLine = Assignment(key: "verify", value: value, location: location, writtenKey: written)
        case "checkhost", "checkemail":
            emit("allow-subject", value)
        case "protocol":
            switch value.lowercased() {
            case "imap", "pop3", "smtp":
                emit("protocol", value.lowercased())
                emit("starttls", "yes")
            case "proxy":
                emit("proxy-protocol", "v1")
            default:
                throw OptionValueError("protocol '\(value)' is not supported; mailtunnel translates imap, pop3, smtp and proxy")
            }
        case "sslversionmin":
            switch value.lowercased() {
            case "tlsv1.2": emit("tls-min", "1.2")
            case "tlsv1.3": emit("tls-min", "1.3")
            default: throw OptionValueError("mailtunnel accepts TLSv1.2 or TLSv1.3 only, got '\(value)'; use sslVersionMin = TLSv1.2")
            }
        case "failover":
            switch value.lowercased() {
            case "prio": break  // mailtunnel always tries backends in the order given
            case "rr": throw OptionValueError("failover = rr (round robin) is not supported; mailtunnel tries backends in order (prio)")
            default: throw OptionValueError("the argument needs to be either 'rr' or 'prio', got '\(value)'")
            }
        case "client":
            if try yesNo() {
                throw OptionValueError("client = yes (TLS towards the backend) is not supported; mailtunnel is a TLS server")
            }
        default:
            guard let option = OptionTable.option(stunnelDirect: name) else {
                throw OptionValueError("unsupported stunnel option; mailtunnel translates only the mail subset "
                                       + "(see the stunnel column of mailtunnel's option table)")
            }
            emit(option.name, value)
        }
    }

    /// The final switch combination as one native `verify`, or an error for combinations mailtunnel cannot honour.
    private static func verifyAssignment(_ flags: VerifyFlags) throws(ConfigError) -> [Assignment] {
        guard let line = flags.lastLine else { return [] }
        let level: VerifyPolicy
        if flags.peer {
            throw ConfigError(line.location, key: line.writtenKey,
                              "verifyPeer (verify levels 3 and 4: trust only locally installed client certificates) is not "
                              + "supported; use verify = 2 with checkHost/checkEmail to admit chosen holders")
        } else if flags.chain {
            level = flags.require ? .require : .optional
        } else if flags.require {
            throw ConfigError(line.location, key: line.writtenKey,
                              "requireCert without verifyChain (a certificate demanded but never checked) is not "
                              + "supported; add verifyChain = yes")
        } else {
            level = .none
        }
        return [Assignment(key: "verify", value: level.rawValue, location: line.location, writtenKey: line.writtenKey)]
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
        case "5", "notice": return .notice
        case "6", "info": return .info
        case "7", "debug": return .debug
        default: throw OptionValueError("expected a syslog level (emerg..debug or 0-7), got '\(value)'")
        }
    }
}
