#if canImport(Glibc)
import Glibc
#endif
public import Logging

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
        LogLine.render(event, handlerMetadata: metadata).withCString { text in
            withVaList([text]) { vsyslog(priority, "%s", $0) }
        }
    }
}
