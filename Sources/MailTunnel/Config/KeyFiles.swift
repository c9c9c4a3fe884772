#if canImport(Glibc)
import Glibc
#endif
import MailTunnelTLS

/// Certificate and key files, read by mailtunnel itself rather than by OpenSSL from a path, for two reasons:
/// - the generated files in the state directory are opened with O_NOFOLLOW, never through a symbolic link the
///   service user could plant there;
/// - after `user`/`group` dropped root, a SIGHUP can no longer read a root-only key (mode 0600 root). Every file
///   read is kept in memory, and a reload that is refused the file (EACCES/EPERM) uses the copy read before the
///   drop, with a warning. Any other failure (a missing file, a key that does not match a renewed certificate)
///   fails the reload, and the running configuration keeps serving.
final class KeyFiles: Sendable {
    static let shared = KeyFiles()

    struct Contents {
        var bytes: [UInt8]
        /// Why the file itself could not be read, when these bytes are the copy kept from an earlier read.
        var keptCopyBecause: String?
    }

    private let copies = LockedState<[String: [UInt8]]>([:])
    /// Certificates and keys are small; anything larger is not one.
    private static let limit = 1 << 20

    func hasCopy(_ path: String) -> Bool { copies.withLock { $0[path] != nil } }

    func read(_ path: String, followSymlinks: Bool) throws(TLSError) -> Contents {
        do {
            let bytes = try Self.readFile(path, followSymlinks: followSymlinks)
            copies.withLock { $0[path] = bytes }
            return Contents(bytes: bytes)
        } catch {
            if error.code == EACCES || error.code == EPERM, let kept = copies.withLock({ $0[path] }) {
                return Contents(bytes: kept, keptCopyBecause: error.message)
            }
            throw TLSError(operation: "read \(path)", reasons: [error.message])
        }
    }

    private struct ReadError: Error {
        var code: Int32
        var message: String
        static func errno(_ code: Int32 = Glibc.errno) -> ReadError { ReadError(code: code, message: String(cString: strerror(code))) }
    }

    /// O_NONBLOCK so that a FIFO at the path cannot hang the daemon; only regular files are read.
    private static func readFile(_ path: String, followSymlinks: Bool) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followSymlinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            if errno == ELOOP && !followSymlinks {
                throw ReadError(code: ELOOP, message: "is a symbolic link; refusing to follow it")
            }
            throw .errno()
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .errno() }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ReadError(code: EINVAL, message: "not a regular file") }
        guard Int(info.st_size) <= limit else { throw ReadError(code: EFBIG, message: "larger than \(limit) bytes") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .errno()
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            guard bytes.count <= limit else { throw ReadError(code: EFBIG, message: "larger than \(limit) bytes") }
        }
    }
}
