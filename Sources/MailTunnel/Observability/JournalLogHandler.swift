#if canImport(Glibc)
import Glibc
#endif
public import Logging

/// `log = journal`: systemd's native journal protocol, one datagram per event on /run/systemd/journal/socket.
/// Besides MESSAGE (the text line) and PRIORITY, every field is its own journal field (`MAILTUNNEL_CLIENT=…`),
/// so `journalctl MAILTUNNEL_USER=alice` finds a user's sessions without parsing text.
public struct JournalLogHandler: LogHandler {
    public static let socketPath = "/run/systemd/journal/socket"

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let socket: JournalSocket

    public init(level: Logger.Level) {
        self.logLevel = level
        self.socket = JournalSocket(path: Self.socketPath)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var datagram: [UInt8] = []
        Self.append("MESSAGE", LogLine.render(event.message.description, metadata: merged), to: &datagram)
        Self.append("PRIORITY", String(Self.priority(event.level)), to: &datagram)
        Self.append("SYSLOG_IDENTIFIER", "mailtunnel", to: &datagram)
        Self.append("SYSLOG_FACILITY", String(LOG_MAIL >> 3), to: &datagram)
        for (key, value) in LogFieldOrder.sorted(merged) {
            Self.append("MAILTUNNEL_" + Self.fieldName(key), "\(value)", to: &datagram)
        }
        if !socket.send(datagram) {
            // No journal listening: the line still reaches whoever reads stderr.
            LogSink.standardError.write(LineLogHandler.timestamp() + " " + event.level.rawValue + " "
                                        + LogLine.render(event.message.description, metadata: merged) + "\n")
        }
    }

    /// The binary form (name, newline, 64-bit little-endian length, bytes, newline) carries any value, newlines
    /// included, so client bytes in a value cannot start a field of their own.
    static func append(_ name: String, _ value: String, to datagram: inout [UInt8]) {
        let bytes = Array(value.utf8)
        datagram += Array(name.utf8)
        datagram.append(0x0a)
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { datagram += $0 }
        datagram += bytes
        datagram.append(0x0a)
    }

    /// Journal field names are upper-case letters, digits and underscores.
    static func fieldName(_ key: String) -> String {
        String(key.uppercased().unicodeScalars.map { scalar -> Character in
            ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) ? Character(scalar) : "_"
        })
    }

    static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: return LOG_DEBUG
        case .info: return LOG_INFO
        case .notice: return LOG_NOTICE
        case .warning: return LOG_WARNING
        case .error: return LOG_ERR
        case .critical: return LOG_CRIT
        }
    }
}

/// One unconnected datagram socket shared by every handler copy; sendto is thread-safe.
final class JournalSocket: Sendable {
    private let fd: Int32
    private let path: String

    init(path: String) {
        self.path = path
        fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    func send(_ datagram: [UInt8]) -> Bool {
        guard fd >= 0 else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        return datagram.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        } == datagram.count
    }
}
