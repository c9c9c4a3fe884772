import MailTunnelTLS

/// Reads and writes through a TLS session, for either side, keeping its readiness flags as `SocketIO` does for a
/// plain socket. TLS may need the opposite direction to make progress (e.g. a key update during a read):
/// `readWantsWrite`/`writeWantsRead` remember that, and the side waits for that readiness instead.
extension SocketIO {
    static func read(_ session: TLSSession, into buffer: UnsafeMutableRawBufferPointer, readable: inout Bool,
                     writable: inout Bool, readWantsWrite: inout Bool, side: Side) -> IOOutcome {
        let result = session.read(into: buffer)
        readWantsWrite = false
        switch result {
        case .bytes(let n): return .bytes(n)
        case .wantRead: readable = false; return .wouldBlock
        case .wantWrite: readWantsWrite = true; writable = false; return .wouldBlock
        case .closed, .eof: return .eof
        case .failed(let error): return .failed(tlsFailure(error, side))
        }
    }

    static func write(_ session: TLSSession, _ buffer: UnsafeRawBufferPointer,
                      staging: UnsafeMutableRawBufferPointer? = nil, readable: inout Bool,
                      writable: inout Bool, writeWantsRead: inout Bool, side: Side) -> IOOutcome {
        let result = staging.map { session.write(buffer, coalescingInto: $0) } ?? session.write(buffer)
        writeWantsRead = false
        switch result {
        case .bytes(let n):
            // A coalesced write the socket did not take whole: wait for writability before the next.
            if session.hasOwedOutput { writable = false }
            return .bytes(n)
        case .wantWrite: writable = false; return .wouldBlock
        case .wantRead: writeWantsRead = true; readable = false; return .wouldBlock
        case .closed, .eof: return .failed(.closedBy(side))
        case .failed(let error): return .failed(tlsFailure(error, side))
        }
    }

    private static func tlsFailure(_ error: TLSError, _ side: Side) -> EndReason {
        side == .client ? .clientTLSError(error.reasons) : .serverTLSError(error.reasons)
    }
}

extension IOOutcome {
    /// A TLS error: the session must not be asked for close_notify any more.
    var isTLSFailure: Bool {
        switch self {
        case .failed(.clientTLSError), .failed(.serverTLSError): return true
        default: return false
        }
    }
}
