/// The bytes queued for each side, written out as the side takes them.
extension Connection {
    /// Writes queued client bytes; returns false if the connection ended.
    @discardableResult
    func flushClient() -> Bool {
        while !toClient.isEmpty && client.canWrite {
            var outcome = IOOutcome.wouldBlock
            _ = toClient.drain(limit: EventLoop.scratchSize) { bytes in
                outcome = client.write(bytes)
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
        if toClient.isEmpty { finish(reason) }
    }
}
