#if canImport(Glibc)
import Glibc
#endif
import MailTunnelProtocols
import MailTunnelTLS

/// The byte relay: read into the loop's scratch buffer, write straight on, queue only what the other side
/// would not take, and stop reading a source while its sink has bytes queued (backpressure).
extension Connection {
    /// Work done per wake-up before yielding to other connections on the loop (32 × 16 KiB per direction).
    private static let budget = 32

    func pumpRelay() {
        var rounds = 0
        while phase == .relaying {
            let movedUp = relayClientToBackend()
            guard phase == .relaying else { return }
            let movedDown = relayBackendToClient()
            guard phase == .relaying else { return }
            passOnHalfClose()
            guard phase == .relaying else { return }
            if !movedUp && !movedDown { break }
            rounds += 1
            if rounds == Self.budget {
                loop.deferWork(self)
                return
            }
        }
    }

    /// One step client → backend; true if anything moved.
    private func relayClientToBackend() -> Bool {
        if !toBackend.isEmpty {
            let before = toBackend.count
            guard flushBackend() else { return false }
            if !toBackend.isEmpty { return before != toBackend.count }
        }
        guard !clientEOF, canReadClient, guardAcceptsClientInput else { return false }
        let scratch = loop.scratch
        switch readClient(into: scratch) {
        case .bytes(let n):
            let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
            if smtpGuard != nil { return guardClientBytes(bytes) }
            forward(bytes, toBackendSide: true)
            return true
        case .wouldBlock:
            return false
        case .eof:
            clientEOF = true
            if firstClosed == nil { firstClosed = "client closed" }
            return true
        case .failed(let why):
            finish(why)
            return false
        }
    }

    private func relayBackendToClient() -> Bool {
        if !toClient.isEmpty {
            let before = toClient.count
            guard flushClient() else { return false }
            if !toClient.isEmpty { return before != toClient.count }
        }
        guard !backendEOF, backendReadable else { return false }
        let scratch = loop.scratch
        switch readBackend(into: scratch) {
        case .bytes(let n):
            let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
            if smtpGuard != nil { return guardBackendBytes(bytes) }
            forward(bytes, toBackendSide: false)
            return true
        case .wouldBlock:
            return false
        case .eof:
            backendEOF = true
            if firstClosed == nil { firstClosed = "backend closed" }
            return true
        case .failed(let why):
            finish(why)
            return false
        }
    }

    /// Writes freshly read bytes to the other side; what it does not take is queued (at most one read's worth).
    func forward(_ bytes: UnsafeRawBufferPointer, toBackendSide: Bool) {
        var written = 0
        var outcome = IOOutcome.wouldBlock
        if toBackendSide ? backendWritable : canWriteClient {
            outcome = toBackendSide ? writeBackend(bytes) : writeClient(bytes)
        }
        switch outcome {
        case .bytes(let n): written = n
        case .wouldBlock: break
        case .eof: return finish(toBackendSide ? "backend closed" : "client closed")
        case .failed(let why): return finish(why)
        }
        if toBackendSide { bytesIn += written } else { bytesOut += written }
        if written < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
            if toBackendSide { toBackend.append(rest) } else { toClient.append(rest) }
        }
    }

    /// A side that finished sending gets its end passed on once everything before it is delivered:
    /// TCP FIN to the backend, close_notify plus FIN to the client.
    private func passOnHalfClose() {
        if clientEOF && toBackend.isEmpty && !(smtpGuard?.isHoldingClientInput ?? false) && !backendWriteShut {
            backendWriteShut = true
            if !clientWriteShut { shutdown(backendFD, Int32(SHUT_WR)) } // else finish() closes it right below
        }
        if backendEOF && toClient.isEmpty && !clientWriteShut {
            clientWriteShut = true
            tls?.sendCloseNotify()
            // With the backend side shut as well, finish() below closes the socket, which sends the FIN itself.
            if !backendWriteShut { shutdown(clientFD, Int32(SHUT_WR)) }
        }
        if clientWriteShut && backendWriteShut {
            finish(firstClosed ?? "closed")
        }
    }
}
