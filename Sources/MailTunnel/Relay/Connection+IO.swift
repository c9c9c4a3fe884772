#if canImport(Glibc)
import Glibc
#endif
import MailTunnelTLS

/// The four primitive operations, each non-blocking and each keeping the readiness flags honest.
extension Connection {
    var canReadClient: Bool { tlsReadWantsWrite ? clientWritable : clientReadable }
    var canWriteClient: Bool { tlsWriteWantsRead ? clientReadable : clientWritable }

    func readClient(into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome {
        if let tls, phase != .handshaking {
            let result = tls.read(into: buffer)
            tlsReadWantsWrite = false
            switch result {
            case .bytes(let n): return .bytes(n)
            case .wantRead: clientReadable = false; return .wouldBlock
            case .wantWrite: tlsReadWantsWrite = true; clientWritable = false; return .wouldBlock
            case .closed, .eof: return .eof
            case .failed(let error):
                tlsBroken = true
                return .failed("client TLS error: \(error.reasons.joined(separator: "; "))")
            }
        }
        return rawRead(clientFD, buffer, readable: &clientReadable, side: "client")
    }

    func writeClient(_ buffer: UnsafeRawBufferPointer) -> IOOutcome {
        if let tls, phase != .handshaking {
            let result = tls.write(buffer)
            tlsWriteWantsRead = false
            switch result {
            case .bytes(let n): return .bytes(n)
            case .wantWrite: clientWritable = false; return .wouldBlock
            case .wantRead: tlsWriteWantsRead = true; clientReadable = false; return .wouldBlock
            case .closed, .eof: return .failed("client closed")
            case .failed(let error):
                tlsBroken = true
                return .failed("client TLS error: \(error.reasons.joined(separator: "; "))")
            }
        }
        return rawWrite(clientFD, buffer, writable: &clientWritable, side: "client")
    }

    func readBackend(into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome {
        rawRead(backendFD, buffer, readable: &backendReadable, side: "backend")
    }

    func writeBackend(_ buffer: UnsafeRawBufferPointer) -> IOOutcome {
        rawWrite(backendFD, buffer, writable: &backendWritable, side: "backend")
    }

    private func rawRead(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, readable: inout Bool, side: String) -> IOOutcome {
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .eof }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: readable = false; return .wouldBlock
            case ECONNRESET: return .failed("\(side) reset")
            default: return .failed("\(side) error: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func rawWrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, writable: inout Bool, side: String) -> IOOutcome {
        while true {
            let n = Sockets.sendWithoutSignal(fd, buffer)
            if n >= 0 {
                if n < buffer.count { writable = false }
                return .bytes(n)
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: writable = false; return .wouldBlock
            case EPIPE, ECONNRESET: return .failed("\(side) reset")
            default: return .failed("\(side) error: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Writes queued client bytes; returns false if the connection ended.
    @discardableResult
    func flushClient() -> Bool {
        while !toClient.isEmpty && canWriteClient {
            var outcome = IOOutcome.wouldBlock
            _ = toClient.drain(limit: EventLoop.scratchSize) { bytes in
                outcome = writeClient(bytes)
                if case .bytes(let n) = outcome { return n }
                return 0
            }
            switch outcome {
            case .bytes(let n): bytesOut += n
            case .wouldBlock: return true
            case .eof: finish("client closed"); return false
            case .failed(let why): finish(why); return false
            }
        }
        return true
    }

    @discardableResult
    func flushBackend() -> Bool {
        while !toBackend.isEmpty && backendWritable {
            var outcome = IOOutcome.wouldBlock
            _ = toBackend.drain { bytes in
                outcome = writeBackend(bytes)
                if case .bytes(let n) = outcome { return n }
                return 0
            }
            switch outcome {
            case .bytes(let n): bytesIn += n
            case .wouldBlock: return true
            case .eof: finish("backend closed"); return false
            case .failed(let why): finish(why); return false
            }
        }
        return true
    }

    func continueClosing(_ reason: String) {
        guard flushClient() else { return }
        if toClient.isEmpty { finish(reason) }
    }
}
