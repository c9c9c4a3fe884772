/// Where a setting came from: a file and line, or the command line (file nil).
public struct ConfigLocation: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String?
    public var line: Int?

    public init(file: String?, line: Int?) {
        self.file = file
        self.line = line
    }

    public static let commandLine = ConfigLocation(file: nil, line: nil)

    public var description: String {
        guard let file else { return "command line" }
        guard let line else { return file }
        return "\(file):\(line)"
    }
}

/// One problem an operator must fix, carrying everything needed to find it:
/// file, line, the key as written, and what was expected.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var location: ConfigLocation
    /// The key as the operator wrote it (`--idle-timeout`, `idle-timeout`, stunnel's `CAfile`); nil for line-level errors.
    public var key: String?
    public var message: String

    public init(_ location: ConfigLocation, key: String?, _ message: String) {
        self.location = location
        self.key = key
        self.message = message
    }

    public var file: String? { location.file }
    public var line: Int? { location.line }

    public var description: String {
        if let key { return "\(location): \(key): \(message)" }
        return "\(location): \(message)"
    }
}

/// Every problem found, reported at once so one edit-check cycle fixes them all.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A value that does not fit its option; the caller adds location and key.
public struct OptionValueError: Error, Sendable, Equatable {
    public var expected: String
    public init(_ expected: String) { self.expected = expected }
}
