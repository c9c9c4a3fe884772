/// Whether an option belongs to one listener or to the whole process.
public enum OptionScope: Sendable, Equatable {
    case listener
    /// Process-wide (user, group, pid-file, log-level, state-dir): every listener must agree,
    /// and `--check` prints these once, before the first section.
    case daemon
}

/// How stunnel spells an option, for the translator and the docs.
public enum StunnelAlias: Sendable, Equatable {
    /// Same meaning and value syntax: the translator passes the value through.
    case direct(String)
    /// Related stunnel option(s) whose values the translator converts; text is for docs only.
    case converted(String)

    public var text: String {
        switch self {
        case .direct(let name), .converted(let name): return name
        }
    }
}

/// One option declared once: everything else (flags, config keys, --check, help, README table) is derived from it.
public struct OptionSpec: Sendable {
    public let name: String
    /// Value syntax shown in help, e.g. `[HOST:]PORT` or `yes|no`.
    public let syntax: String
    /// The default as documentation text.
    public let defaultText: String
    public let help: String
    public let scope: OptionScope
    public let repeatable: Bool
    public let stunnel: StunnelAlias?
    /// Boolean options may be given as a bare flag (`--starttls` means `--starttls yes`).
    public let isBoolean: Bool
    /// Parses one value into the config; repeatable options append.
    let apply: @Sendable (String, inout ListenerConfig) throws(OptionValueError) -> Void
    /// The effective values in config syntax; empty means "not set".
    let render: @Sendable (ListenerConfig) -> [String]

    public var flag: String { "--\(name)" }

    public func apply(_ value: String, to config: inout ListenerConfig) throws(OptionValueError) {
        try apply(value, &config)
    }

    public func values(of config: ListenerConfig) -> [String] { render(config) }
}

// Builders, one per value kind, so the table below reads as a declaration and every kind
// parses and prints the same way.
extension OptionSpec {
    typealias Apply = @Sendable (String, inout ListenerConfig) throws(OptionValueError) -> Void

    init(_ name: String, _ syntax: String, default defaultText: String, _ help: String,
         scope: OptionScope = .listener, repeatable: Bool = false, stunnel: StunnelAlias? = nil,
         isBoolean: Bool = false, apply: @escaping Apply, render: @escaping @Sendable (ListenerConfig) -> [String]) {
        self.name = name
        self.syntax = syntax
        self.defaultText = defaultText
        self.help = help
        self.scope = scope
        self.repeatable = repeatable
        self.stunnel = stunnel
        self.isBoolean = isBoolean
        self.apply = apply
        self.render = render
    }

    static func address(_ name: String, role: AddressRole, _ keyPath: any WritableKeyPath<ListenerConfig, HostPort> & Sendable,
                        default defaultText: String, _ help: String, stunnel: StunnelAlias?) -> OptionSpec {
        OptionSpec(name, "[HOST:]PORT", default: defaultText, help, stunnel: stunnel,
                   apply: { value, config throws(OptionValueError) in
                       config[keyPath: keyPath] = try AddressParser.parse(value, role: role)
                   },
                   render: { config in
                       let address = config[keyPath: keyPath]
                       return address.port == 0 ? [] : [address.description]
                   })
    }

    static func addressList(_ name: String, _ keyPath: any WritableKeyPath<ListenerConfig, [HostPort]> & Sendable,
                            default defaultText: String, _ help: String, stunnel: StunnelAlias?) -> OptionSpec {
        OptionSpec(name, "[HOST:]PORT", default: defaultText, help, repeatable: true, stunnel: stunnel,
                   apply: { value, config throws(OptionValueError) in
                       config[keyPath: keyPath].append(try AddressParser.parse(value, role: .connect))
                   },
                   render: { config in config[keyPath: keyPath].map(\.description) })
    }

    static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ keyPath: any WritableKeyPath<ListenerConfig, E> & Sendable, default defaultText: String,
        _ help: String, scope: OptionScope = .listener, stunnel: StunnelAlias?
    ) -> OptionSpec where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        return OptionSpec(name, names.joined(separator: "|"), default: defaultText, help, scope: scope, stunnel: stunnel,
                          apply: { value, config throws(OptionValueError) in
                              guard let parsed = E(rawValue: value.lowercased()) else {
                                  throw OptionValueError("expected one of \(names.joined(separator: ", ")), got '\(value)'")
                              }
                              config[keyPath: keyPath] = parsed
                          },
                          render: { config in [config[keyPath: keyPath].rawValue] })
    }

    static func boolean(_ name: String, _ keyPath: any WritableKeyPath<ListenerConfig, Bool> & Sendable,
                        _ help: String, stunnel: StunnelAlias? = nil) -> OptionSpec {
        OptionSpec(name, "yes|no", default: "no", help, stunnel: stunnel, isBoolean: true,
                   apply: { value, config throws(OptionValueError) in
                       config[keyPath: keyPath] = try parseBool(value)
                   },
                   render: { config in [config[keyPath: keyPath] ? "yes" : "no"] })
    }

    static func duration(_ name: String, _ keyPath: any WritableKeyPath<ListenerConfig, Double> & Sendable,
                         default defaultText: String, allowZero: Bool, _ help: String,
                         stunnel: StunnelAlias?) -> OptionSpec {
        OptionSpec(name, "DURATION", default: defaultText, help, stunnel: stunnel,
                   apply: { value, config throws(OptionValueError) in
                       let seconds = try DurationParser.parse(value)
                       guard seconds > 0 || (allowZero && seconds == 0) else {
                           throw OptionValueError("expected a duration above zero, got '\(value)'")
                       }
                       config[keyPath: keyPath] = seconds
                   },
                   render: { config in [DurationParser.format(config[keyPath: keyPath])] })
    }

    static func integer(_ name: String, _ keyPath: any WritableKeyPath<ListenerConfig, Int> & Sendable,
                        range: ClosedRange<Int>, default defaultText: String, _ help: String) -> OptionSpec {
        OptionSpec(name, "INTEGER", default: defaultText, help,
                   apply: { value, config throws(OptionValueError) in
                       config[keyPath: keyPath] = try parseInt(value, range: range)
                   },
                   render: { config in [String(config[keyPath: keyPath])] })
    }

    /// An integer limit where `none` means unlimited.
    static func limit(_ name: String, _ keyPath: any WritableKeyPath<ListenerConfig, Int?> & Sendable,
                      range: ClosedRange<Int>, _ help: String) -> OptionSpec {
        OptionSpec(name, "INTEGER|none", default: "none", help,
                   apply: { value, config throws(OptionValueError) in
                       config[keyPath: keyPath] = value.lowercased() == "none" ? nil : try parseInt(value, range: range)
                   },
                   render: { config in [config[keyPath: keyPath].map(String.init) ?? "none"] })
    }

    /// A free-text setting that must not be empty; `keyPath` optional means "unset" prints nothing.
    static func text(_ name: String, _ syntax: String, _ keyPath: any WritableKeyPath<ListenerConfig, String?> & Sendable,
                     default defaultText: String, _ help: String, scope: OptionScope = .listener,
                     stunnel: StunnelAlias?) -> OptionSpec {
        OptionSpec(name, syntax, default: defaultText, help, scope: scope, stunnel: stunnel,
                   apply: { value, config throws(OptionValueError) in
                       config[keyPath: keyPath] = try nonEmpty(value, syntax)
                   },
                   render: { config in config[keyPath: keyPath].map { [$0] } ?? [] })
    }

    static func requiredText(_ name: String, _ syntax: String, _ keyPath: any WritableKeyPath<ListenerConfig, String> & Sendable,
                             default defaultText: String, _ help: String, stunnel: StunnelAlias?) -> OptionSpec {
        OptionSpec(name, syntax, default: defaultText, help, stunnel: stunnel,
                   apply: { value, config throws(OptionValueError) in
                       config[keyPath: keyPath] = try nonEmpty(value, syntax)
                   },
                   render: { config in [config[keyPath: keyPath]] })
    }

    static func parseBool(_ value: String) throws(OptionValueError) -> Bool {
        switch value.lowercased() {
        case "yes", "true", "on": return true
        case "no", "false", "off": return false
        default: throw OptionValueError("expected yes or no, got '\(value)'")
        }
    }

    static func parseInt(_ value: String, range: ClosedRange<Int>) throws(OptionValueError) -> Int {
        guard let number = Int(value), range.contains(number) else {
            throw OptionValueError("expected a whole number from \(range.lowerBound) to \(range.upperBound), got '\(value)'")
        }
        return number
    }

    static func nonEmpty(_ value: String, _ syntax: String) throws(OptionValueError) -> String {
        guard !value.isEmpty else { throw OptionValueError("expected \(syntax), got nothing") }
        return value
    }
}
