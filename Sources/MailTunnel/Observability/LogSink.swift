#if canImport(Glibc)
import Glibc
#endif

/// The descriptor text log lines go to: stderr, or a file opened for appending.
///
/// A file is reopened (after logrotate moved it) by `dup2` onto the same descriptor number, which swaps the open
/// file atomically: a line being written from another thread lands in the old file or the new one, never in a
/// closed or reused descriptor.
public final class LogSink: Sendable {
    private let descriptor: Int32
    /// The file's path; nil for stderr.
    public let path: String?

    public static let standardError = LogSink(descriptor: 2, path: nil)

    private init(descriptor: Int32, path: String?) {
        self.descriptor = descriptor
        self.path = path
    }

    /// Opens (creating, mode 0640) the log file; the error says why it cannot be.
    public static func file(_ path: String) throws(LogFileError) -> LogSink {
        LogSink(descriptor: try open(path), path: path)
    }

    /// One write(2) per line, so lines from several threads never interleave.
    func write(_ line: String) {
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    }

    /// SIGUSR1: open the path again and put it in place of the current file. Keeps writing to the old file if the
    /// new one cannot be opened (e.g. a directory the dropped-privilege user cannot write).
    public func reopen() throws(LogFileError) {
        guard let path else { return }
        let fresh = try Self.open(path)
        defer { close(fresh) }
        guard dup2(fresh, descriptor) >= 0 else { throw LogFileError(path: path, errno: errno) }
    }

    private static func open(_ path: String) throws(LogFileError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw LogFileError(path: path, errno: errno) }
        return fd
    }
}

public struct LogFileError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32

    public var description: String { "cannot open log file \(path): \(String(cString: strerror(errno)))" }
}
