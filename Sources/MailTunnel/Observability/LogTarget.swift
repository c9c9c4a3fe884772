#if canImport(Glibc)
import Glibc
#endif
public import Logging

/// Where log lines go. Mail servers on the seed's machines log to syslog (facility mail); under systemd or on a
/// terminal stderr is right (journald reads it). `MAILTUNNEL_LOG=stderr|syslog` overrides the choice.
public enum LogTarget: Sendable, Equatable {
    case stderr
    case syslog

    public static func choose(forceStderr: Bool = false) -> LogTarget {
        if let forced = getenv("MAILTUNNEL_LOG").map({ String(cString: $0) }) {
            return forced == "syslog" ? .syslog : .stderr
        }
        if forceStderr || isatty(2) == 1 || stderrIsJournal() { return .stderr }
        // Without a syslog daemon there is nobody to read syslog; stderr at least reaches whoever started us.
        return access("/dev/log", W_OK) == 0 ? .syslog : .stderr
    }

    /// journald sets $JOURNAL_STREAM to the device:inode of the stream it connected to our stderr.
    private static func stderrIsJournal() -> Bool {
        guard let raw = getenv("JOURNAL_STREAM") else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return String(cString: raw) == "\(info.st_dev):\(info.st_ino)"
    }

    public func makeHandler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .stderr: return LineLogHandler(label: label, level: level)
        case .syslog: return SyslogLogHandler(level: level)
        }
    }
}
