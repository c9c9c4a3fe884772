/// Whether an option belongs to one listener or to the whole process.
public enum OptionScope: Sendable, Equatable {
    case listener
    /// Process-wide (metrics, user, group, pid-file, log-level, state-dir): every listener must agree,
    /// and `--check` prints these once, before the first section.
    case daemon
}

/// Where an option's value is kept: a field of `ListenerConfig` or of `DaemonSettings`. The scope follows from it.
public struct OptionField<Value: Sendable>: Sendable {
    public let scope: OptionScope
    let get: @Sendable (SettingsDraft) -> Value
    let set: @Sendable (inout SettingsDraft, Value) -> Void

    public static func listener(_ path: any WritableKeyPath<ListenerConfig, Value> & Sendable) -> Self {
        Self(scope: .listener, get: { $0.listener[keyPath: path] }, set: { $0.listener[keyPath: path] = $1 })
    }

    public static func daemon(_ path: any WritableKeyPath<DaemonSettings, Value> & Sendable) -> Self {
        Self(scope: .daemon, get: { $0.daemon[keyPath: path] }, set: { $0.daemon[keyPath: path] = $1 })
    }
}

/// What an option's docs say when it is not given.
public enum OptionDefault<Value: Sendable>: Sendable {
    /// A real default: the field starts with it, and help, README and `--check` print it through the option's renderer.
    case value(Value)
    /// No value (the field starts nil or empty); the text says what that means.
    case unset(Value, meaning: String)
    /// Computed from other keys when not given (the protocol from the accept port, the key from the cert);
    /// `Value` is what the field holds until then.
    case derived(Value, rule: String, from: @Sendable (SettingsDraft) -> Value?)
    /// Every listener must give it; the value is a placeholder that is never run.
    case required(placeholder: Value)
}

/// One option, declared once with its key, type, default value, validation, docs and stunnel spelling.
/// Flags, config-file keys, `--check`, `--help`, the README table and the stunnel translation all read it.
public struct Option<Value: Sendable>: Sendable {
    public let name: String
    /// Value syntax shown in help, e.g. `[HOST:]PORT` or `yes|no`.
    public let syntax: String
    public let help: String
    public let field: OptionField<Value>
    public let `default`: OptionDefault<Value>
    public let repeatable: Bool
    /// Boolean options may be given as a bare flag (`--starttls` means `--starttls yes`).
    public let isBoolean: Bool
    public let stunnel: StunnelSpelling?
    /// Validates one value; `current` is nil for the first value given, which replaces the default,
    /// and the value so far for later ones (repeatable options append).
    let parse: @Sendable (String, _ current: Value?) throws(OptionValueError) -> Value
    /// The value in config syntax, one string per line; empty means "not set".
    let render: @Sendable (Value) -> [String]

    /// The value a field starts with.
    public var defaultValue: Value {
        switch self.default {
        case .value(let value), .unset(let value, _), .derived(let value, _, _), .required(let value): return value
        }
    }

    /// The default as help, the README table and `--check` print it: the value itself when there is one.
    public var defaultText: String {
        switch self.default {
        case .value(let value): return render(value).joined(separator: ", ")
        case .unset(_, let meaning): return meaning
        case .derived(_, let rule, _): return rule
        case .required: return "required"
        }
    }

    /// The type-erased form the tables and parsers iterate over.
    public var spec: OptionSpec {
        let (field, parse, render) = (field, parse, render)
        var derive: (@Sendable (inout SettingsDraft) -> Void)?
        if case .derived(_, _, let from) = self.default {
            derive = { draft in if let value = from(draft) { field.set(&draft, value) } }
        }
        return OptionSpec(
            name: name, syntax: syntax, help: help, scope: field.scope, repeatable: repeatable, isBoolean: isBoolean,
            defaultText: defaultText, hasValueDefault: { if case .value = self.default { true } else { false } }(),
            isRequired: { if case .required = self.default { true } else { false } }(), stunnel: stunnel,
            applyText: { text, draft, first throws(OptionValueError) in
                field.set(&draft, try parse(text, first ? nil : field.get(draft)))
            },
            renderValues: { render(field.get($0)) },
            copyValue: { source, target in field.set(&target, field.get(source)) },
            derive: derive)
    }
}

/// An option with its value type erased, so every option can sit in one list.
public struct OptionSpec: Sendable {
    public let name: String
    public let syntax: String
    public let help: String
    public let scope: OptionScope
    public let repeatable: Bool
    public let isBoolean: Bool
    public let defaultText: String
    /// The default is a value (printed as `key = value` by `--check`), not a note about an unset key.
    public let hasValueDefault: Bool
    /// Every listener must give it.
    public let isRequired: Bool
    public let stunnel: StunnelSpelling?
    let applyText: @Sendable (String, inout SettingsDraft, Bool) throws(OptionValueError) -> Void
    let renderValues: @Sendable (SettingsDraft) -> [String]
    let copyValue: @Sendable (SettingsDraft, inout SettingsDraft) -> Void
    /// Fills in a derived default when the key was not given.
    let derive: (@Sendable (inout SettingsDraft) -> Void)?

    public var flag: String { "--\(name)" }

    /// Applies one value; `replacingDefault` is false for the second and later values of a repeatable key.
    public func apply(_ value: String, to draft: inout SettingsDraft, replacingDefault: Bool = true) throws(OptionValueError) {
        try applyText(value, &draft, replacingDefault)
    }

    /// The effective values in config syntax; empty means "not set".
    public func values(of draft: SettingsDraft) -> [String] { renderValues(draft) }

    /// Copies this option's value from one draft to another (process-wide values into the merged settings).
    func copy(from source: SettingsDraft, to target: inout SettingsDraft) { copyValue(source, &target) }
}
