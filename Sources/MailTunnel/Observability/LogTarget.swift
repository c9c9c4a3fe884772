#if canImport(Glibc)
import Glibc
#endif
public import Logging

/// Where log lines go when `log` is not given. Mail servers on the seed's machines log to syslog (facility mail);
/// under systemd or on a terminal stderr is right (journald reads it). `MAILTUNNEL_LOG=stderr|syslog|journal`
/// chooses when the configuration does not.
public enum LogTarget {
    public static func choose(configured: LogDestination?, forceStderr: Bool = false) -> LogDestination {
        if let configured { return configured }
        if let forced = getenv("MAILTUNNEL_LOG").flatMap({ try? LogDestination(parsing: String(cString: $0)) }) {
            return forced
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

    /// The handler factory for `LoggingSystem.bootstrap`; `sink` is the opened file for a `.file` destination.
    public static func makeHandler(_ destination: LogDestination, sink: LogSink, format: LogFormatName,
                                   level: Logger.Level) -> any LogHandler {
        switch destination {
        case .stderr, .file: return LineLogHandler(sink: sink, format: format, level: level)
        case .syslog: return SyslogLogHandler(level: level)
        case .journal: return JournalLogHandler(level: level)
        }
    }
}
