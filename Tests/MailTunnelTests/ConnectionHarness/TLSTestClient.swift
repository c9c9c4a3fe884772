#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MailTunnelTLS

/// The client end of a harness connection, speaking TLS over the blocking socketpair end.
struct TLSTestClient {
    let fd: Int32
    let session: TLSSession

    /// `identity`: the harness PKI's certificate to present ("alice", "mallory"), or none.
    init(fd: Int32, identity: String? = nil) throws {
        let pki = TestPKI.shared
        let context = try TLSClientContext(caFile: pki.ca, certificateFile: identity.map(pki.certificate),
                                           keyFile: identity.map(pki.key))
        self.fd = fd
        session = try context.makeSession(socket: fd)
    }

    func handshake() -> TLSStep { session.handshake() }

    func send(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { session.write($0) } == .bytes(text.utf8.count)
    }

    /// One TLS read: the text, or what ended it.
    func receive() -> Result<String, ReadEnd> {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let result = buffer.withUnsafeMutableBytes { session.read(into: $0) }
        switch result {
        case .bytes(let n): return .success(String(decoding: buffer[0..<n], as: UTF8.self))
        case .closed: return .failure(.closeNotify)
        case .eof: return .failure(.eof)
        case .wantRead, .wantWrite: return .failure(.timedOut)
        case .failed(let error): return .failure(.error(error.reasons.joined(separator: "; ")))
        }
    }

    /// Reads until `expected` bytes arrived (or the stream ends); returns how many did.
    func drain(_ expected: Int) -> Int {
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while total < expected {
            guard case .bytes(let n) = buffer.withUnsafeMutableBytes({ session.read(into: $0) }) else { break }
            total += n
        }
        return total
    }

    enum ReadEnd: Error, Equatable {
        case closeNotify, eof, timedOut
        case error(String)
    }
}

/// Plain socket helpers for the backend end.
enum PlainSocket {
    static func send(_ fd: Int32, _ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until `text` has arrived (or five seconds pass); returns everything read.
    static func receive(_ fd: Int32, until text: String) -> String {
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !received.contains(text) {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            received += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        return received
    }
}

/// The value of `key=` in a log line, quoted or not.
func logField(_ line: String?, _ key: String) -> String? {
    guard let line, let start = line.range(of: " \(key)=") else { return nil }
    let rest = line[start.upperBound...]
    if rest.first == "\"" {
        let body = rest.dropFirst()
        return String(body[..<(body.firstIndex(of: "\"") ?? body.endIndex)])
    }
    return String(rest[..<(rest.firstIndex(of: " ") ?? rest.endIndex)])
}
