/// The fuzzer's bytes, read front to back. Past the end every read gives zeros / empty slices.
public struct FuzzInput {
    public let bytes: [UInt8]
    public private(set) var index = 0

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    }

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { index >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    public mutating func take(_ count: Int) -> ArraySlice<UInt8> {
        let end = min(bytes.count, index + count)
        defer { index = end }
        return bytes[index..<end]
    }

    public mutating func rest() -> ArraySlice<UInt8> { take(bytes.count) }
}

/// One step of a two-sided session, as the fuzz input encodes it (Fuzz/Corpus/make-seeds.py writes the same):
/// a header byte whose low two bits say what happens — 0 client bytes, 1 backend bytes, 2 client bytes,
/// 3 an event (TLS established; backend closed when the header is 0xFF) — followed, for bytes, by a length
/// byte and that many bytes. Splitting a transcript into records is how the input chooses the read boundaries.
public enum SessionStep {
    case client(ArraySlice<UInt8>)
    case backend(ArraySlice<UInt8>)
    case tlsEstablished
    case backendClosed
}

extension FuzzInput {
    public mutating func nextStep() -> SessionStep? {
        guard !isAtEnd else { return nil }
        let header = byte()
        switch header & 3 {
        case 0, 2: return .client(take(Int(byte())))
        case 1: return .backend(take(Int(byte())))
        default: return header == 0xFF ? .backendClosed : .tlsEstablished
        }
    }
}

/// A violated invariant: abort so libFuzzer records the input as a crash.
public func violation(_ message: String, _ detail: some Sequence<UInt8> = [UInt8]()) -> Never {
    let shown = String(decoding: Array(detail.prefix(300)), as: UTF8.self).debugDescription
    fatalError("INVARIANT: \(message) \(shown)")
}
