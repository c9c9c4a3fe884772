/// The bytes queued for each side, written out as the side takes them.
extension Connection {
    /// Bytes for the client not yet on its socket: queued here, or records a coalesced TLS write left owed.
    var clientOutputPending: Bool { !toClient.isEmpty || client.hasOwedOutput }

    /// Writes queued client bytes (owed TLS records first); returns false if the connection ended.
    @discardableResult
    func flushClient() -> Bool {
        switch client.flushOwed() {
        case .bytes: break
        case .wouldBlock: return true
        case .eof: finish(.closedBy(.client)); return false
        case .failed(let why): finish(why); return false
        }
        while !toClient.isEmpty && client.canWrite {
            var outcome = IOOutcome.wouldBlock
            let staging = loop.tlsStaging
            _ = toClient.drain(limit: EventLoop.scratchSize) { bytes in
                outcome = client.write(bytes, staging: staging)
                if case .bytes(let n) = outcome { return n }
                return 0
            }
            switch outcome {
            case .bytes(let n): bytesOut += n
            case .wouldBlock: return true
            case .eof: finish(.closedBy(.client)); return false
            case .failed(let why): finish(why); return false
            }
        }
        return true
    }

    /// Writes queued backend bytes; returns false if the connection ended.
    @discardableResult
    func flushBackend() -> Bool {
        while !toBackend.isEmpty && backend.canWrite {
            var outcome = IOOutcome.wouldBlock
            _ = toBackend.drain { bytes in
                outcome = backend.write(bytes)
                if case .bytes(let n) = outcome { return n }
                return 0
            }
            switch outcome {
            case .bytes(let n): bytesIn += n
            case .wouldBlock: return true
            case .eof: finish(.closedBy(.backend)); return false
            case .failed(let why): finish(why); return false
            }
        }
        return true
    }

    func continueClosing(_ reason: EndReason) {
        guard flushClient() else { return }
        if !clientOutputPending { finish(reason) }
    }
}
