/// One `key = value` as written, already matched to a native option name.
public struct Assignment: Sendable, Equatable {
    /// The native option name (`ca-file`), used to apply the value.
    public var key: String
    public var value: String
    public var location: ConfigLocation
    /// The key as the operator wrote it (`--ca-file`, `CA-File`, stunnel's `CAfile`), for error messages.
    public var writtenKey: String

    public init(key: String, value: String, location: ConfigLocation, writtenKey: String? = nil) {
        self.key = key
        self.value = value
        self.location = location
        self.writtenKey = writtenKey ?? key
    }
}

/// A `[name]` section of a config file.
public struct ConfigSection: Sendable, Equatable {
    public var name: String
    public var location: ConfigLocation
    public var assignments: [Assignment]
}

/// A parsed config file before values are interpreted: lines matched to known keys, nothing applied yet.
public struct ConfigDocument: Sendable, Equatable {
    public var file: String
    /// Keys before the first section: they apply to every listener of this file.
    public var globals: [Assignment]
    public var sections: [ConfigSection]
}

/// A listener's settings before values are interpreted, with the layers already merged.
struct RawListener: Sendable {
    var name: String
    /// Where the listener was declared (its section header, or the file), for "missing accept" errors.
    var location: ConfigLocation
    var assignments: [Assignment]

    /// Later layers win per key: a section's `connect` lines replace (not extend) the file-wide ones,
    /// and command-line flags replace both. Within one layer repeatable keys accumulate.
    static func merge(_ layers: [[Assignment]]) -> [Assignment] {
        var merged: [Assignment] = []
        for layer in layers {
            let keys = Set(layer.map(\.key))
            merged.removeAll { keys.contains($0.key) }
            merged += layer
        }
        return merged
    }
}
