/// A libsasl2 failure, with the library's own detail text.
public struct SASLError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let detail: String
    public init(code: Int32, detail: String) { self.code = code; self.detail = detail }
    public var description: String { "SASL error \(code): \(detail)" }
}
