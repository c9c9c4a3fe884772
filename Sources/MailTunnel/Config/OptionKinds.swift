/// Builders, one per value kind, so the table in `OptionTable` reads as a declaration and every kind
/// parses and prints the same way.
extension Option {
    init(_ name: String, _ syntax: String, _ field: OptionField<Value>, default: OptionDefault<Value>, _ help: String,
         repeatable: Bool = false, isBoolean: Bool = false, stunnel: StunnelSpelling? = nil,
         parse: @escaping @Sendable (String, Value?) throws(OptionValueError) -> Value,
         render: @escaping @Sendable (Value) -> [String]) {
        self.name = name
        self.syntax = syntax
        self.help = help
        self.field = field
        self.default = `default`
        self.repeatable = repeatable
        self.isBoolean = isBoolean
        self.stunnel = stunnel
        self.parse = parse
        self.render = render
    }
}

extension Option where Value == HostPort {
    /// A required address; port 0 marks "not given" and is reported as missing, never run.
    static func address(_ name: String, role: AddressRole, _ field: OptionField<HostPort>, _ help: String,
                        stunnel: StunnelSpelling?) -> Self {
        Self(name, "[HOST:]PORT", field, default: .required(placeholder: HostPort(host: nil, port: 0)), help,
             stunnel: stunnel,
             parse: { value, _ throws(OptionValueError) in try AddressParser.parse(value, role: role) },
             render: { $0.port == 0 ? [] : [$0.description] })
    }
}

extension Option where Value == HostPort? {
    /// An address where `off` means none.
    static func optionalAddress(_ name: String, role: AddressRole, _ field: OptionField<HostPort?>, _ help: String)
        -> Self {
        Self(name, "HOST:PORT|off", field, default: .value(nil), help,
             parse: { value, _ throws(OptionValueError) in
                 value.lowercased() == "off" ? nil : try AddressParser.parse(value, role: role)
             },
             render: { [$0?.description ?? "off"] })
    }
}

extension Option {
    /// A repeatable list; each line adds elements, and the first line given replaces the default.
    static func list<Element: Sendable>(
        _ name: String, _ syntax: String, _ field: OptionField<[Element]>, default: OptionDefault<[Element]>,
        _ help: String, stunnel: StunnelSpelling? = nil, joined: Bool = false,
        element: @escaping @Sendable (String) throws(OptionValueError) -> [Element],
        render: @escaping @Sendable (Element) -> String
    ) -> Self where Value == [Element] {
        Self(name, syntax, field, default: `default`, help, repeatable: true, stunnel: stunnel,
             parse: { value, current throws(OptionValueError) in (current ?? []) + (try element(value)) },
             render: { values in
                 let lines = values.map(render)
                 return joined && !lines.isEmpty ? [lines.joined(separator: ", ")] : lines
             })
    }
}

extension Option where Value: RawRepresentable & CaseIterable, Value.RawValue == String {
    static func choice(_ name: String, _ field: OptionField<Value>, default: OptionDefault<Value>, _ help: String,
                       stunnel: StunnelSpelling? = nil) -> Self {
        let names = Value.allCases.map(\.rawValue)
        return Self(name, names.joined(separator: "|"), field, default: `default`, help, stunnel: stunnel,
                    parse: { value, _ throws(OptionValueError) in
                        guard let parsed = Value(rawValue: value.lowercased()) else {
                            throw OptionValueError("expected one of \(names.joined(separator: ", ")), got '\(value)'")
                        }
                        return parsed
                    },
                    render: { [$0.rawValue] })
    }
}

extension Option where Value == Bool {
    static func boolean(_ name: String, _ field: OptionField<Bool>, default: Bool, _ help: String,
                        stunnel: StunnelSpelling? = nil) -> Self {
        Self(name, "yes|no", field, default: .value(`default`), help, isBoolean: true, stunnel: stunnel,
             parse: { value, _ throws(OptionValueError) in try parseBool(value) },
             render: { [$0 ? "yes" : "no"] })
    }

    static func parseBool(_ value: String) throws(OptionValueError) -> Bool {
        switch value.lowercased() {
        case "yes", "true", "on": return true
        case "no", "false", "off": return false
        default: throw OptionValueError("expected yes or no, got '\(value)'")
        }
    }
}

extension Option where Value == StartTLSMode {
    /// `yes|optional|no`; the yes/no spellings of a boolean work too, and a bare flag means yes.
    static func startTLSMode(_ name: String, _ field: OptionField<StartTLSMode>, _ help: String,
                             stunnel: StunnelSpelling?) -> Self {
        Self(name, "yes|optional|no", field, default: .value(.no), help, isBoolean: true, stunnel: stunnel,
             parse: { value, _ throws(OptionValueError) in
                 if value.lowercased() == "optional" { return .optional }
                 do {
                     return try Option<Bool>.parseBool(value) ? .yes : .no
                 } catch {
                     throw OptionValueError("expected yes, optional or no, got '\(value)'")
                 }
             },
             render: { [$0.rawValue] })
    }
}

extension Option where Value == Double {
    /// A duration in seconds, written as `500ms`, `30s`, `30m`, `1h`.
    static func duration(_ name: String, _ field: OptionField<Double>, default: Double, allowZero: Bool,
                         _ help: String, stunnel: StunnelSpelling? = nil) -> Self {
        Self(name, "DURATION", field, default: .value(`default`), help, stunnel: stunnel,
             parse: { value, _ throws(OptionValueError) in
                 let seconds = try DurationParser.parse(value)
                 guard seconds > 0 || (allowZero && seconds == 0) else {
                     throw OptionValueError("expected a duration above zero, got '\(value)'")
                 }
                 return seconds
             },
             render: { [DurationParser.format($0)] })
    }
}

extension Option where Value == Int {
    static func integer(_ name: String, _ field: OptionField<Int>, range: ClosedRange<Int>, default: Int,
                        _ help: String) -> Self {
        Self(name, "INTEGER", field, default: .value(`default`), help,
             parse: { value, _ throws(OptionValueError) in try parseInt(value, range: range) },
             render: { [String($0)] })
    }
}

extension Option where Value == Int? {
    /// An integer limit where `none` means unlimited.
    static func limit(_ name: String, _ field: OptionField<Int?>, range: ClosedRange<Int>, _ help: String) -> Self {
        Self(name, "INTEGER|none", field, default: .value(nil), help,
             parse: { value, _ throws(OptionValueError) in
                 value.lowercased() == "none" ? nil : try parseInt(value, range: range)
             },
             render: { [$0.map(String.init) ?? "none"] })
    }
}

extension Option where Value == String {
    static func requiredText(_ name: String, _ syntax: String, _ field: OptionField<String>, default: String,
                             _ help: String, stunnel: StunnelSpelling? = nil) -> Self {
        Self(name, syntax, field, default: .value(`default`), help, stunnel: stunnel,
             parse: { value, _ throws(OptionValueError) in try nonEmpty(value, syntax) },
             render: { [$0] })
    }
}

extension Option where Value == String? {
    /// A free-text setting that must not be empty; not given, it prints nothing and the docs say what that means.
    static func text(_ name: String, _ syntax: String, _ field: OptionField<String?>, unset meaning: String,
                     derived: (@Sendable (SettingsDraft) -> String?)? = nil, _ help: String,
                     stunnel: StunnelSpelling? = nil) -> Self {
        Self(name, syntax, field,
             default: derived.map { .derived(nil, rule: meaning, from: $0) } ?? .unset(nil, meaning: meaning), help,
             stunnel: stunnel,
             parse: { value, _ throws(OptionValueError) in try nonEmpty(value, syntax) },
             render: { $0.map { [$0] } ?? [] })
    }
}

func parseInt(_ value: String, range: ClosedRange<Int>) throws(OptionValueError) -> Int {
    guard let number = Int(value), range.contains(number) else {
        throw OptionValueError("expected a whole number from \(range.lowerBound) to \(range.upperBound), got '\(value)'")
    }
    return number
}

func nonEmpty(_ value: String, _ syntax: String) throws(OptionValueError) -> String {
    guard !value.isEmpty else { throw OptionValueError("expected \(syntax), got nothing") }
    return value
}
