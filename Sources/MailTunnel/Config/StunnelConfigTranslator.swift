import MailTunnelTLS
import Foundation

/// The result of reading a stunnel.conf: native listeners plus the stunnel-only process settings.
struct StunnelTranslation: Sendable {
    var listeners: [RawListener] = []
    /// stunnel `foreground = yes|quiet` (true) or `no` (false); nil when not given.
    var foreground: Bool?
    /// Lines accepted although they change nothing (`options = NO_SSLv3`), each saying why: logged at start.
    var warnings: [ConfigError] = []
}

/// Translates the mail subset of stunnel.conf into native assignments, with stunnel's semantics
/// (learned from mtrojnar/stunnel src/options.c):
/// - option names are case-insensitive; `#` and `;` start comment lines; there are no trailing comments;
/// - options before the first `[service]` are defaults for every service, and repeatable ones
///   (`connect`, `checkHost`, `checkEmail`) accumulate from the defaults into each service;
/// - `pid`, `setuid`, `setgid`, `foreground`, `output` (-> `log`) are global-only; `pid =` (empty) means no pid file;
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
/// - `client = yes` is client mode (`client`); see `StunnelClientMode` for what verify and checkHost mean there;
/// - `failover = prio` is mailtunnel's behaviour; `rr` and every option outside the subset are
///   errors naming the option and line, never silently ignored.
/// Each native option's stunnel keys and value conversion are part of its declaration in `OptionTable`; this file
/// holds only the file format, the sections and the options stunnel has that mailtunnel has no key for.
enum StunnelConfigTranslator {
    static func load(path: String) -> (StunnelTranslation, [ConfigError]) {
        switch ConfigFileText.read(path) {
        case .success(let text): return translate(text: text, file: path)
        case .failure(let problem):
            return (StunnelTranslation(), [ConfigError(ConfigLocation(file: path, line: nil), key: nil,
                                                       "cannot read the stunnel config: \(problem.reason)")])
        }
    }

    struct Scope {
        var name: String?
        var location: ConfigLocation
        var assignments: [Assignment] = []
        var verify = StunnelVerifySwitches()
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
            // stunnel's cert and key are single: a service's own replaces the defaults' (natively they repeat, for SNI).
            let replaced = Set(section.assignments.map(\.key)).intersection(singleValued)
            let defaults = global.assignments.filter { !replaced.contains($0.key) }
            translation.listeners.append(RawListener(name: section.name ?? "", location: section.location,
                                                     assignments: StunnelClientMode.adapt(
                                                        defaults + section.assignments + verify)))
        }
        return (translation, errors)
    }

    /// stunnel options with no native key: they only inform `--check` or confirm mailtunnel's own behaviour.
    private static let stunnelOnly: [String: @Sendable (String, inout StunnelTranslation) throws(OptionValueError) -> Void] = [
        "foreground": { value, translation throws(OptionValueError) in
            switch value.lowercased() {
            case "yes", "quiet": translation.foreground = true
            case "no": translation.foreground = false
            default: throw OptionValueError("the argument needs to be either 'yes', 'quiet' or 'no', got '\(value)'")
            }
        },
        "failover": { value, _ throws(OptionValueError) in
            switch value.lowercased() {
            case "prio": break  // mailtunnel always tries backends in the order given
            case "rr": throw OptionValueError("failover = rr (round robin) is not supported; mailtunnel tries backends in order (prio)")
            default: throw OptionValueError("the argument needs to be either 'rr' or 'prio', got '\(value)'")
            }
        },
    ]
    private static let stunnelOnlyGlobal: Set<String> = ["foreground"]

    /// One stunnel line, translated by the declarations that carry its key.
    private static func translateLine(_ written: String, _ value: String, _ location: ConfigLocation,
                                      scope: inout Scope, translation: inout StunnelTranslation,
                                      isGlobal: Bool) throws(OptionValueError) {
        let name = written.lowercased()
        if let handle = stunnelOnly[name] {
            if stunnelOnlyGlobal.contains(name), !isGlobal { throw globalOnly }
            return try handle(value, &translation)
        }
        if StunnelNoEffectOptions.keys.contains(name) {
            let why = try StunnelNoEffectOptions.reason(key: name, value: value)
            translation.warnings.append(ConfigError(location, key: written, "has no effect: \(why)"))
            return
        }
        let targets = OptionTable.options(stunnelKey: written)
        guard !targets.isEmpty else {
            throw OptionValueError("unsupported stunnel option; mailtunnel translates only the mail subset "
                                   + "(see the stunnel column of mailtunnel's option table)")
        }
        if !isGlobal, targets.contains(where: \.key.globalOnly) { throw globalOnly }
        for (option, key) in targets {
            switch key.conversion {
            case .same:
                if singleValued.contains(option.name) { scope.assignments.removeAll { $0.key == option.name } }
                scope.assignments.append(Assignment(key: option.name, value: value, location: location, writtenKey: written))
            case .value(let convert):
                guard let native = try convert(value) else { continue }
                scope.assignments.append(Assignment(key: option.name, value: native, location: location, writtenKey: written))
            case .verifySwitch(let change):
                try change(value, &scope.verify)
                scope.verify.lastLine = Assignment(key: option.name, value: value, location: location, writtenKey: written)
            }
        }
    }

    /// Native options that repeat but whose stunnel key takes one value, a later line replacing an earlier one.
    private static let singleValued: Set<String> = ["cert", "key"]

    private static let globalOnly = OptionValueError("is a global option; move it before the first [service]")

    /// The final switch combination as one native `verify`, or an error for combinations mailtunnel cannot honour.
    private static func verifyAssignment(_ switches: StunnelVerifySwitches) throws(ConfigError) -> [Assignment] {
        guard let line = switches.lastLine else { return [] }
        do {
            let policy = try switches.policy()
            return [Assignment(key: line.key, value: policy.rawValue, location: line.location, writtenKey: line.writtenKey)]
        } catch {
            throw ConfigError(line.location, key: line.writtenKey, error.expected)
        }
    }
}
