internal import COpenSSL

/// A TLS failure carrying OpenSSL's error stack, so logs can name the real reason.
public struct TLSError: Error, Sendable, CustomStringConvertible, Equatable {
    public let operation: String
    public let reasons: [String]

    public init(operation: String, reasons: [String]) {
        self.operation = operation
        self.reasons = reasons
    }

    /// Drains OpenSSL's thread-local error queue into a TLSError.
    public static func fromErrorQueue(_ operation: String) -> TLSError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return TLSError(operation: operation, reasons: reasons)
    }

    public var description: String {
        reasons.isEmpty ? operation : "\(operation): \(reasons.joined(separator: "; "))"
    }
}
