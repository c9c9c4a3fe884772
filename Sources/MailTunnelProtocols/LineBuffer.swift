/// Accumulates bytes and hands out complete lines under a length limit.
/// Lines end in LF; a CR before it is stripped (bare LF is tolerated as Postfix does).
struct LineBuffer {
    enum Next: Equatable {
        case line([UInt8])
        case needMore
        /// The current line (or what has arrived of it) is longer than the limit, CRLF included.
        case tooLong
    }

    private(set) var bytes: [UInt8] = []
    private var scanned = 0  // bytes already searched for LF, so a slow trickle stays linear

    mutating func append(_ more: ArraySlice<UInt8>) { bytes += more }

    mutating func next(limit: Int) -> Next {
        guard let lf = bytes[scanned...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = bytes.count
            return bytes.count >= limit ? .tooLong : .needMore
        }
        guard lf + 1 <= limit else { return .tooLong }
        var line = Array(bytes[0..<lf])
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        bytes.removeFirst(lf + 1)
        scanned = 0
        return .line(line)
    }

    /// Everything not yet handed out, emptied: pipelined bytes to pass on when the dialogue ends.
    mutating func takeRemaining() -> [UInt8] {
        defer { bytes = []; scanned = 0 }
        return bytes
    }

    var isEmpty: Bool { bytes.isEmpty }
}
