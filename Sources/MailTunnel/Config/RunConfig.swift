import MailTunnelProtocols

/// Everything the executable needs: what to do, the listeners, and the process settings.
public struct RunConfig: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Start the daemon.
        case run
        /// Validate and print `CheckReport.render(self)`; exit 0 (errors are thrown, exit 1).
        case check
        /// Print `OptionDocs.helpText`.
        case help
        /// Print the version.
        case version
        /// Print `TicketKeyFile.newLine()`.
        case newTicketKey
        /// Print a generated man page or completion script (hidden flags, for the packaging).
        case generate(GeneratedText)
    }

    public var mode: Mode
    public var listeners: [ListenerConfig]
    public var daemon: DaemonSettings
    /// Accepted, but worth an operator's look: logged at start and printed by `--check`.
    public var warnings: [ConfigError]

    public init(mode: Mode, listeners: [ListenerConfig], daemon: DaemonSettings, warnings: [ConfigError] = []) {
        self.mode = mode
        self.listeners = listeners
        self.daemon = daemon
        self.warnings = warnings
    }

    /// The single entry point for the executable: `arguments` is argv without the program name.
    ///
    /// - `--config FILE` (repeatable) and `--stunnel-config FILE` (repeatable) contribute listeners in the order given.
    /// - Listener flags override the same key in every listener from those files; for repeatable keys the flags'
    ///   values replace the file's (`--connect` given twice means exactly those two backends).
    /// - With no file, the flags form one listener named after its accept value (`--accept 993` -> `993`).
    /// - Every problem in every file and flag is collected and thrown together.
    public static func load(arguments: [String]) throws(ConfigErrors) -> RunConfig {
        let (parsed, argumentErrors) = ListenerArguments.parse(arguments)
        if parsed.help { return RunConfig(mode: .help, listeners: [], daemon: DaemonSettings()) }
        if parsed.version { return RunConfig(mode: .version, listeners: [], daemon: DaemonSettings()) }
        if parsed.newTicketKey { return RunConfig(mode: .newTicketKey, listeners: [], daemon: DaemonSettings()) }
        if let generated = parsed.generated, argumentErrors.isEmpty {
            return RunConfig(mode: .generate(generated), listeners: [], daemon: DaemonSettings())
        }

        var errors = argumentErrors
        var raw: [RawListener] = []
        var daemon = DaemonSettings()
        var warnings: [ConfigError] = []
        for path in parsed.configFiles {
            let (document, fileErrors) = ConfigFileParser.load(path: path)
            errors += fileErrors
            if let document { raw += ConfigFileParser.listeners(of: document) }
        }
        for path in parsed.stunnelConfigFiles {
            let (translation, fileErrors) = StunnelConfigTranslator.load(path: path)
            errors += fileErrors
            raw += translation.listeners
            daemon.foreground = translation.foreground ?? daemon.foreground
            warnings += translation.warnings
        }
        let fromFiles = !parsed.configFiles.isEmpty || !parsed.stunnelConfigFiles.isEmpty
        if fromFiles {
            raw = raw.map { RawListener(name: $0.name, location: $0.location,
                                        assignments: RawListener.merge([$0.assignments, parsed.assignments])) }
        } else if !parsed.assignments.isEmpty {
            raw = [RawListener(name: flagListenerName(parsed.assignments), location: .commandLine,
                               assignments: parsed.assignments)]
        } else if errors.isEmpty {
            errors.append(ConfigError(.commandLine, key: nil,
                                      "nothing to run; give --accept and --connect, --config FILE or --stunnel-config FILE"))
        }
        var run = try assemble(raw, daemon: daemon, mode: parsed.check ? .check : .run, earlierErrors: errors)
        run.warnings = warnings + run.warnings
        return run
    }

    /// Parses native config text, e.g. `--check` output pasted back, or a file's contents in tests.
    public static func parse(configText: String, file: String) throws(ConfigErrors) -> RunConfig {
        let (document, errors) = ConfigFileParser.parse(text: configText, file: file)
        return try assemble(ConfigFileParser.listeners(of: document), daemon: DaemonSettings(), mode: .run,
                            earlierErrors: errors)
    }

    static func assemble(_ raw: [RawListener], daemon: DaemonSettings, mode: Mode,
                         earlierErrors: [ConfigError]) throws(ConfigErrors) -> RunConfig {
        var errors = earlierErrors
        var built: [(ListenerBuilder.Built, RawListener)] = []
        for listener in raw {
            let (result, buildErrors) = ListenerBuilder.build(listener)
            errors += buildErrors
            errors += ListenerValidator.validate(result, declaredAt: listener.location)
            built.append((result, listener))
        }
        errors += crossListenerErrors(built)
        var settings = daemon
        errors += daemonSettings(built.map(\.0), into: &settings)
        if let metrics = settings.metrics,
           let clash = built.first(where: { $0.0.locations["accept"] != nil && $0.0.config.accept.bindConflicts(with: metrics) }),
           let source = built.lazy.compactMap({ $0.0.locations["metrics"] }).first {
            errors.append(ConfigError(source.location, key: source.writtenKey,
                                      "\(metrics) is already accepted by listener [\(clash.0.config.name)]"))
        }
        if !errors.isEmpty { throw ConfigErrors(readingOrder(errors)) }
        return RunConfig(mode: mode, listeners: built.map(\.0.config), daemon: settings,
                         warnings: built.compactMap { unnamedProtocolWarning($0.0, declaredAt: $0.1.location) })
    }

    /// A listener on a port that names no mail protocol silently relays bytes (`protocol none`): no STARTTLS,
    /// no protocol replies. Usually a typo or a forgotten key, so it is said at start.
    static func unnamedProtocolWarning(_ built: ListenerBuilder.Built, declaredAt origin: ConfigLocation) -> ConfigError? {
        guard built.locations["protocol"] == nil, built.config.protocol == .none else { return nil }
        return ConfigError(built.locations["accept"]?.location ?? origin, key: nil,
                           "listener [\(built.config.name)]: no protocol given and port \(built.config.accept.port) "
                           + "is not a mail port, so it relays bytes only (protocol none); set protocol = imap, pop3, "
                           + "smtp or none")
    }

    /// Errors in the order an operator reads them: command line first, then each file in the order given,
    /// by line, with whole-file problems (a missing accept) after that file's lines.
    static func readingOrder(_ errors: [ConfigError]) -> [ConfigError] {
        var fileRank: [String: Int] = [:]
        for error in errors { if let file = error.file, fileRank[file] == nil { fileRank[file] = fileRank.count } }
        let ranked = errors.enumerated().map { offset, error in
            (file: error.file.flatMap { fileRank[$0] } ?? -1, line: error.line ?? Int.max, offset: offset, error: error)
        }
        return ranked.sorted { ($0.file, $0.line, $0.offset) < ($1.file, $1.line, $1.offset) }.map(\.error)
    }

    /// A flag-only listener is named after its accept value as written back (`993`, `[::1]:993`).
    static func flagListenerName(_ assignments: [Assignment]) -> String {
        guard let accept = assignments.last(where: { $0.key == "accept" }) else { return "command-line" }
        return (try? AddressParser.parse(accept.value, role: .accept).description) ?? accept.value
    }

    /// Names must be unique (logs, metrics, systemd instances), and no two listeners may bind the same
    /// address: same port with the same host, or with either one on all interfaces.
    static func crossListenerErrors(_ built: [(ListenerBuilder.Built, RawListener)]) -> [ConfigError] {
        var errors: [ConfigError] = []
        for (index, (listener, raw)) in built.enumerated() {
            let earlier = built[..<index]
            if let first = earlier.first(where: { $0.0.config.name == listener.config.name }) {
                errors.append(ConfigError(raw.location, key: nil,
                                          "listener name '\(listener.config.name)' is already used at \(first.1.location)"))
            }
            guard let accept = listener.locations["accept"] else { continue }
            if let clash = earlier.first(where: {
                $0.0.locations["accept"] != nil && $0.0.config.accept.bindConflicts(with: listener.config.accept)
            }) {
                let other = clash.0.locations["accept"]?.location ?? clash.1.location
                errors.append(ConfigError(accept.location, key: accept.writtenKey,
                                          "\(listener.config.accept) is already accepted by listener [\(clash.0.config.name)] at \(other)"))
            }
        }
        return errors
    }

    /// Process-wide keys may be set in any listener (or before the first section), but must agree;
    /// listeners that agree (or are silent) share the first value given anywhere.
    static func daemonSettings(_ built: [ListenerBuilder.Built], into settings: inout DaemonSettings) -> [ConfigError] {
        var errors: [ConfigError] = []
        guard var merged = built.first?.draft else { return errors }
        merged.daemon = settings
        for option in OptionTable.options where option.scope == .daemon {
            var first: (values: [String], where: Assignment)?
            for listener in built {
                guard let assignment = listener.locations[option.name] else { continue }
                let values = option.values(of: listener.draft)
                if let first, first.values != values {
                    errors.append(ConfigError(assignment.location, key: assignment.writtenKey,
                                              "is process-wide and was already set to '\(first.values.joined())' at \(first.where.location)"))
                } else if first == nil {
                    first = (values, assignment)
                    option.copy(from: listener.draft, to: &merged)
                }
            }
        }
        settings = merged.daemon
        return errors
    }
}
