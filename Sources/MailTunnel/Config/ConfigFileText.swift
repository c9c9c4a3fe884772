#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Reads a config file as text and, when it cannot, says which of the three usual causes it is: the file is
/// missing, it cannot be read (permissions, a directory), or it is not UTF-8 (with the line of the first bad byte),
/// because "missing, unreadable or not UTF-8" leaves the operator to find out which.
enum ConfigFileText {
    struct Unreadable: Error, Equatable {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    static func read(_ path: String) -> Result<String, Unreadable> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            switch code {
            case ENOENT, ENOTDIR: return .failure(Unreadable("it does not exist"))
            case EACCES, EPERM: return .failure(Unreadable("permission denied (running as uid \(getuid()))"))
            default: return .failure(Unreadable(String(cString: strerror(code))))
            }
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        if fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            return .failure(Unreadable("it is a directory"))
        }
        let bytes: [UInt8]
        do {
            bytes = Array(try handle.readToEnd() ?? Data())
        } catch {
            return .failure(Unreadable("reading failed: \(String(cString: strerror(errno)))"))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(Unreadable("it is not UTF-8 text (\(firstInvalidByte(bytes)))"))
        }
        return .success(text)
    }

    /// "byte 0xE9 on line 3": where the decoder first gave up, for the operator's editor.
    static func firstInvalidByte(_ bytes: [UInt8]) -> String {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        var line = 1
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar == "\n" { line += 1 }
                offset += UTF8.width(scalar)
            case .emptyInput:
                return "line \(line)"
            case .error:
                let byte = String(bytes[min(offset, bytes.count - 1)], radix: 16, uppercase: true)
                return "byte 0x\(byte.count < 2 ? "0" + byte : byte) on line \(line)"
            }
        }
    }
}
