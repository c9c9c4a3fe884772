import Foundation

/// Reads mailtunnel's native config format.
///
/// Choices the SPEC leaves open:
/// - `#` starts a comment at the start of a line (after spaces), or after whitespace later in a line
///   (`idle-timeout = 30m  # IMAP IDLE`). A `#` glued to text (`Team#1`) is part of the value, so
///   values cannot contain " #".
/// - Keys are case-insensitive; values are taken verbatim after trimming spaces. No quoting.
/// - A non-repeatable key given twice in one section (or twice before the first section) is an error,
///   since one of the two lines is a mistake; a section may override a file-wide key.
/// - A section name may use letters, digits and `. _ - @ : [ ]` (it becomes a systemd instance name and a log field).
public enum ConfigFileParser {
    /// Parses text; the returned document holds only lines whose key is known, the errors everything else.
    public static func parse(text: String, file: String) -> (document: ConfigDocument, errors: [ConfigError]) {
        var document = ConfigDocument(file: file, globals: [], sections: [])
        var errors: [ConfigError] = []
        var seenSections: [String: Int] = [:]
        var seenKeys: [String: Int] = [:]

        var lineNumber = 0
        for rawLine in configLines(text) {
            lineNumber += 1
            let location = ConfigLocation(file: file, line: lineNumber)
            let line = stripComment(rawLine).trimmingSpaces
            if line.isEmpty { continue }

            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    errors.append(ConfigError(location, key: nil, "expected a section header like [imaps], got '\(line)'"))
                    continue
                }
                let name = String(line.dropFirst().dropLast()).trimmingSpaces
                if !isValidName(name) {
                    errors.append(ConfigError(location, key: nil,
                                              "section name '\(name)' may only use letters, digits and . _ - @ : [ ]"))
                }
                if let first = seenSections[name] {
                    errors.append(ConfigError(location, key: nil, "section [\(name)] already defined on line \(first)"))
                }
                seenSections[name] = lineNumber
                seenKeys = [:]
                document.sections.append(ConfigSection(name: name, location: location, assignments: []))
                continue
            }

            guard let equals = line.firstIndex(of: "=") else {
                errors.append(ConfigError(location, key: nil, "expected 'key = value', got '\(line)'"))
                continue
            }
            let written = line[..<equals].trimmingSpaces
            let value = line[line.index(after: equals)...].trimmingSpaces
            guard let option = OptionTable.option(named: written) else {
                errors.append(ConfigError(location, key: written, "unknown key\(suggestion(for: written))"))
                continue
            }
            if !option.repeatable, let first = seenKeys[option.name] {
                errors.append(ConfigError(location, key: written, "already set on line \(first); give it once"))
                continue
            }
            seenKeys[option.name] = lineNumber
            let assignment = Assignment(key: option.name, value: value, location: location, writtenKey: written)
            if document.sections.isEmpty {
                document.globals.append(assignment)
            } else {
                document.sections[document.sections.count - 1].assignments.append(assignment)
            }
        }
        return (document, errors)
    }

    /// Reads and parses a file; an unreadable file is one error.
    public static func load(path: String) -> (document: ConfigDocument?, errors: [ConfigError]) {
        let text: String
        switch ConfigFileText.read(path) {
        case .success(let contents): text = contents
        case .failure(let problem):
            return (nil, [ConfigError(ConfigLocation(file: path, line: nil), key: nil, "cannot read the file: \(problem.reason)")])
        }
        let (document, errors) = parse(text: text, file: path)
        return (document, errors)
    }

    /// The listeners a document declares. A file without sections is one listener named after the file
    /// (`/etc/mailtunnel/imaps.conf` -> `imaps`), matching the systemd template unit `mailtunnel@imaps`.
    static func listeners(of document: ConfigDocument) -> [RawListener] {
        guard !document.sections.isEmpty else {
            return [RawListener(name: listenerName(forFile: document.file),
                                location: ConfigLocation(file: document.file, line: nil),
                                assignments: document.globals)]
        }
        return document.sections.map {
            RawListener(name: $0.name, location: $0.location,
                        assignments: RawListener.merge([document.globals, $0.assignments]))
        }
    }

    public static func listenerName(forFile path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return base }
        return String(base[..<dot])
    }

    /// Lines of a config file. Splits on `isNewline` because Swift reads "\r\n" as one Character, so
    /// splitting on "\n" alone would glue a CRLF file into one line; a leading UTF-8 BOM is dropped.
    static func configLines(_ text: String) -> [Substring] {
        let body = text.hasPrefix("\u{FEFF}") ? text.dropFirst() : Substring(text)
        return body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || "._-@:[]".contains($0) }
    }

    private static func stripComment(_ line: Substring) -> Substring {
        var previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if character == "#", previous == " " || previous == "\t" { return line[..<index] }
            previous = character
        }
        return line
    }

    /// "did you mean": underscore or stunnel spellings first, then the nearest key by edit distance.
    private static func suggestion(for written: String) -> String {
        let normalized = written.lowercased().replacingOccurrences(of: "_", with: "-")
        if let option = OptionTable.option(named: normalized) { return "; did you mean '\(option.name)'?" }
        if let option = OptionTable.option(stunnelSame: written) {
            return "; this is stunnel's name, mailtunnel's is '\(option.name)' (or use --stunnel-config)"
        }
        if let name = KeySuggestion.nearest(to: normalized, among: OptionTable.options.map(\.name)) {
            return "; did you mean '\(name)'?"
        }
        return "; see mailtunnel --help for the list of keys"
    }
}
