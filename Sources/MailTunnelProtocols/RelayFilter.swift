/// Watches the bytes of a relayed session (the SMTP relay guard). The engine stays generic: it reads, asks the
/// filter what may pass each way, and stops reading the client while the filter holds its input.
public protocol RelayFilter: Sendable {
    /// Why the session can no longer be followed, as the connection's log line gives it; once set, the engine
    /// refuses the client with the profile's unavailable reply and closes.
    var endReason: String? { get }
    /// The filter waits for a backend reply before it takes more client input.
    var isHoldingClientInput: Bool { get }
    /// How many bytes at the start of `bytes` go to the backend as they are (message content, without a copy).
    mutating func passThroughPrefix(_ bytes: UnsafeRawBufferPointer) -> Int
    /// Client bytes in: what goes on to the backend, and the filter's own replies to the client.
    mutating func filterClientBytes(_ bytes: ArraySlice<UInt8>) -> RelayFilterOutput
    /// Backend bytes in: what goes on to the client, and held client bytes the reply released to the backend.
    mutating func filterBackendBytes(_ bytes: ArraySlice<UInt8>) -> RelayFilterOutput
}

/// What a filter lets through, each way.
public struct RelayFilterOutput: Equatable, Sendable {
    public var toClient: [UInt8]
    public var toBackend: [UInt8]

    public init(toClient: [UInt8] = [], toBackend: [UInt8] = []) {
        self.toClient = toClient
        self.toBackend = toBackend
    }
}
