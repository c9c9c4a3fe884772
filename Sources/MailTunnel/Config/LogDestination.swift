/// Where log lines go (`log`): stderr, syslog (facility mail), the systemd journal with its own fields, or a file
/// that is reopened on SIGUSR1 so logrotate can move it.
public enum LogDestination: Sendable, Equatable, CustomStringConvertible {
    case stderr
    case syslog
    case journal
    case file(String)

    init(parsing value: String) throws(OptionValueError) {
        switch value.lowercased() {
        case "stderr": self = .stderr
        case "syslog": self = .syslog
        case "journal": self = .journal
        default:
            guard value.hasPrefix("/") else {
                throw OptionValueError("expected stderr, syslog, journal or an absolute file path, got '\(value)'")
            }
            self = .file(value)
        }
    }

    public var description: String {
        switch self {
        case .stderr: return "stderr"
        case .syslog: return "syslog"
        case .journal: return "journal"
        case .file(let path): return path
        }
    }
}

/// How a log line is written (`log-format`): `message key=value ...`, or one JSON object per line.
public enum LogFormatName: String, Sendable, CaseIterable { case text, json }
