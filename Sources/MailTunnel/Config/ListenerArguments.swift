/// What the command line asked for, before any file is read.
public struct ParsedArguments: Sendable, Equatable {
    public var configFiles: [String] = []
    public var stunnelConfigFiles: [String] = []
    public var check = false
    public var help = false
    public var version = false
    /// Listener flags (`--accept 993`), in order, matched to native options.
    public var assignments: [Assignment] = []

    public init() {}
}

/// Parses argv-style arguments (without the program name) using `OptionTable`, so every config key
/// is also a flag. Both `--key value` and `--key=value` work; a boolean given bare (`--starttls`) means yes.
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

            switch name {
            case "check", "help", "version":
                if inlineValue != nil { fail(flag, "takes no value") }
                if name == "check" { parsed.check = true } else if name == "help" { parsed.help = true } else { parsed.version = true }
                continue
            case "config":
                if let path = takeValue("FILE") { parsed.configFiles.append(path) }
                continue
            case "stunnel-config":
                if let path = takeValue("FILE") { parsed.stunnelConfigFiles.append(path) }
                continue
            default:
                break
            }

            guard let option = OptionTable.option(named: name), option.name == name else {
                fail(flag, "unknown option; see mailtunnel --help")
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
