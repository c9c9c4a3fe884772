/// What the command line asked for, before any file is read.
public struct ParsedArguments: Sendable, Equatable {
    public var configFiles: [String] = []
    public var stunnelConfigFiles: [String] = []
    public var check = false
    public var help = false
    public var version = false
    public var newTicketKey = false
    /// A hidden flag asked for generated documentation (the man page, a shell completion).
    public var generated: GeneratedText?
    /// Listener flags (`--accept 993`), in order, matched to native options.
    public var assignments: [Assignment] = []

    public init() {}
}

/// Text the packaging generates from the option table.
public enum GeneratedText: Sendable, Equatable {
    case confManPage
    case bashCompletion
    case zshCompletion

    public var text: String {
        switch self {
        case .confManPage: return ConfManPage.text
        case .bashCompletion: return ShellCompletions.bash
        case .zshCompletion: return ShellCompletions.zsh
        }
    }
}

/// The flags that are not config keys: they choose what to read and what to do. Declared here once for the
/// parser and `--help`.
public enum CommandFlag: String, Sendable, CaseIterable {
    case config
    case stunnelConfig = "stunnel-config"
    case check
    case help
    case version
    case newTicketKey = "new-ticket-key"
    case printManConf = "print-man-conf"
    case printCompletion = "print-completion"

    /// The value it takes, nil for a flag that takes none.
    public var syntax: String? {
        switch self {
        case .config, .stunnelConfig: return "FILE"
        case .printCompletion: return "bash|zsh"
        case .check, .help, .version, .printManConf, .newTicketKey: return nil
        }
    }

    /// Generators for the packaging (man page, completions): not for operators, so not in `--help`.
    public var isHidden: Bool { self == .printManConf || self == .printCompletion }

    public var help: String {
        switch self {
        case .config: return "a config file with one or more listeners (repeatable)"
        case .stunnelConfig: return "an existing stunnel.conf; its mail services are run (repeatable)"
        case .check: return "validate, print the effective listeners, exit 0 (valid) or 1"
        case .help: return "print this help (also -h)"
        case .version: return "print the version"
        case .newTicketKey: return "print a fresh line for a ticket-key-file (80 random bytes, base64)"
        case .printManConf: return "print mailtunnel.conf(5) in roff, generated from the option table"
        case .printCompletion: return "print the bash or zsh completion script"
        }
    }
}

/// The one parser of argv (without the program name): command flags, and every `OptionTable` key as a flag.
/// Both `--key value` and `--key=value` work; a boolean given bare (`--starttls`) means yes.
public enum ListenerArguments {
    public static func parse(_ arguments: [String]) -> (arguments: ParsedArguments, errors: [ConfigError]) {
        var parsed = ParsedArguments()
        var errors: [ConfigError] = []
        var seen: Set<String> = []
        var index = 0

        func fail(_ key: String?, _ message: String) {
            errors.append(ConfigError(.commandLine, key: key, message))
        }

        while index < arguments.count {
            let token = arguments[index]
            index += 1
            if token == "-h" { parsed.help = true; continue }
            guard token.hasPrefix("--"), token.count > 2 else {
                fail(nil, "unexpected argument '\(token)'; options start with --")
                continue
            }
            var name = String(token.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            let flag = "--\(name)"

            func takeValue(_ syntax: String) -> String? {
                if let inlineValue { return inlineValue }
                // A following flag means the value was forgotten; taking "--key" as a cert path would hide that.
                guard index < arguments.count, !arguments[index].hasPrefix("--") else {
                    fail(flag, "expected \(syntax) after \(flag)")
                    return nil
                }
                index += 1
                return arguments[index - 1]
            }

            if let command = CommandFlag(rawValue: name) {
                if command.syntax == nil, inlineValue != nil { fail(flag, "takes no value") }
                switch command {
                case .check: parsed.check = true
                case .help: parsed.help = true
                case .version: parsed.version = true
                case .newTicketKey: parsed.newTicketKey = true
                case .config: if let path = takeValue("FILE") { parsed.configFiles.append(path) }
                case .stunnelConfig: if let path = takeValue("FILE") { parsed.stunnelConfigFiles.append(path) }
                case .printManConf: parsed.generated = .confManPage
                case .printCompletion:
                    switch takeValue("bash|zsh") {
                    case "bash": parsed.generated = .bashCompletion
                    case "zsh": parsed.generated = .zshCompletion
                    case let other?: fail(flag, "expected bash or zsh, got '\(other)'")
                    case nil: break
                    }
                }
                continue
            }

            guard let option = OptionTable.option(named: name), option.name == name else {
                let flags = CommandFlag.allCases.map(\.rawValue) + OptionTable.options.map(\.name)
                let hint = KeySuggestion.nearest(to: name, among: flags).map { "did you mean '--\($0)'?" }
                fail(flag, "unknown option; \(hint ?? "see mailtunnel --help")")
                continue
            }
            let value: String?
            if option.isBoolean, inlineValue == nil, index >= arguments.count || arguments[index].hasPrefix("--") {
                value = "yes"
            } else {
                value = takeValue(option.syntax)
            }
            guard let value else { continue }
            if !option.repeatable, seen.contains(option.name) {
                fail(flag, "given more than once; give it once")
                continue
            }
            seen.insert(option.name)
            parsed.assignments.append(Assignment(key: option.name, value: value, location: .commandLine, writtenKey: flag))
        }
        return (parsed, errors)
    }
}
