#if canImport(Glibc)
import Glibc
#endif
public import Logging

/// `2026-11-29T01:02:03.456Z info message key=value`, or the same as one JSON object, one event per line on
/// stderr or a log file (journald and log shippers read it as is).
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let sink: LogSink
    private let format: LogFormatName

    public init(sink: LogSink = .standardError, format: LogFormatName = .text, level: Logger.Level) {
        self.sink = sink
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        switch format {
        case .text:
            sink.write(Self.timestamp() + " " + event.level.rawValue + " "
                       + LogLine.render(event, handlerMetadata: metadata) + "\n")
        case .json:
            sink.write(LogLine.renderJSON(event, handlerMetadata: metadata, time: Self.timestamp()) + "\n")
        }
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
