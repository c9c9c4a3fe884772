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

/// syslog(3), facility mail; the timestamp and pid are syslog's own.
public struct SyslogLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    public init(level: Logger.Level) {
        self.logLevel = level
        openlog("mailtunnel", LOG_PID | LOG_NDELAY, LOG_MAIL)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let priority: Int32
        switch event.level {
        case .trace, .debug: priority = LOG_DEBUG
        case .info: priority = LOG_INFO
        case .notice: priority = LOG_NOTICE
        case .warning: priority = LOG_WARNING
        case .error: priority = LOG_ERR
        case .critical: priority = LOG_CRIT
        }
        LogLine.escapeControls(event.message.description).withCString { text in
            withVaList([text]) { vsyslog(priority, "%s", $0) }
        }
    }
}
