#if canImport(Glibc)
import Glibc
#endif
import MailTunnelProtocols

/// The byte relay: read into the loop's scratch buffer, write straight on, queue only what the other side
/// would not take, and stop reading a source while its sink has bytes queued (backpressure).
extension Connection {
    /// Work done per wake-up before yielding to other connections and to the loop's inbox (a stop, a reload):
    /// 8 rounds of up to 64 KiB, 512 KiB per direction.
    private static let budget = 8

    func pumpRelay() {
        defer { reportRelayedBytesIfDue() }
        var rounds = 0
        while state.isRelaying {
            let movedUp = relayClientToBackend()
            guard state.isRelaying else { return }
            let movedDown = relayBackendToClient()
            guard state.isRelaying else { return }
            passOnHalfClose()
            guard state.isRelaying else { return }
            if !movedUp && !movedDown { break }
            rounds += 1
            if rounds == Self.budget {
                loop.deferWork(self)
                return
            }
        }
    }

    private var relayProgress: RelayProgress? {
        if case .relaying(let progress) = state { return progress }
        return nil
    }

    /// A side sent its end: remembered, and the first one names the connection's end.
    private func sourceEnded(_ side: Side) {
        guard case .relaying(var progress) = state else { return }
        if side == .client { progress.upstream = .ended } else { progress.downstream = .ended }
        if progress.firstClosed == nil { progress.firstClosed = .closedBy(side) }
        state = .relaying(progress)
    }

    /// One step client → backend; true if anything moved.
    private func relayClientToBackend() -> Bool {
        if !toBackend.isEmpty {
            let before = toBackend.count
            guard flushBackend() else { return false }
            if !toBackend.isEmpty { return before != toBackend.count }
        }
        guard relayProgress?.upstream == .open, client.canRead, filterAcceptsClientInput else { return false }
        let scratch = loop.scratch
        switch client.read(into: scratch) {
        case .bytes(let n):
            if relayFilter != nil { return filterClientBytes(UnsafeRawBufferPointer(rebasing: scratch[0..<n])) }
            // TLS hands out one record per read: gather what is already here so the backend gets one write.
            var total = n
            var after = IOOutcome.wouldBlock
            while total < scratch.count && client.canRead {
                after = client.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[total...]))
                guard case .bytes(let more) = after else { break }
                total += more
                after = .wouldBlock
            }
            forward(UnsafeRawBufferPointer(rebasing: scratch[0..<total]), to: .backend)
            guard state.isRelaying else { return true }
            switch after {
            case .eof: sourceEnded(.client)
            case .failed(let why): finish(why)
            case .bytes, .wouldBlock: break
            }
            return true
        case .wouldBlock:
            return false
        case .eof:
            sourceEnded(.client)
            return true
        case .failed(let why):
            finish(why)
            return false
        }
    }

    private func relayBackendToClient() -> Bool {
        if clientOutputPending {
            let before = toClient.count
            let owed = client.hasOwedOutput
            guard flushClient() else { return false }
            if clientOutputPending { return before != toClient.count || owed != client.hasOwedOutput }
        }
        guard relayProgress?.downstream == .open, backend.canRead else { return false }
        let scratch = loop.scratch
        switch backend.read(into: scratch) {
        case .bytes(let n):
            let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
            if relayFilter != nil { return filterBackendBytes(bytes) }
            forward(bytes, to: .client)
            return true
        case .wouldBlock:
            return false
        case .eof:
            if refuseIfNothingRelayed(.closedBy(.backend)) { return false }
            sourceEnded(.backend)
            return true
        case .failed(let why):
            if refuseIfNothingRelayed(why) { return false }
            finish(why)
            return false
        }
    }

    /// A backend that ends before the client got a single byte (not even a greeting): the client gets the
    /// protocol's "service unavailable" (IMAP `* BYE`, POP3 `-ERR`, SMTP `421`), not a close it cannot tell from a
    /// network fault. Once anything was relayed, a clean close is all the protocol allows.
    private func refuseIfNothingRelayed(_ reason: EndReason) -> Bool {
        guard bytesOut == 0, !clientOutputPending, let reply = profile.unavailableReply else { return false }
        refuse(reason, reply: reply)
        return true
    }

    /// Writes freshly read bytes to `sink`; what it does not take is queued (at most one read's worth).
    func forward(_ bytes: UnsafeRawBufferPointer, to sink: Side) {
        var written = 0
        var outcome = IOOutcome.wouldBlock
        switch sink {
        case .backend: if backend.canWrite { outcome = backend.write(bytes) }
        case .client: if client.canWrite { outcome = client.write(bytes, staging: loop.tlsStaging) }
        }
        switch outcome {
        case .bytes(let n): written = n
        case .wouldBlock: break
        case .eof: return finish(.closedBy(sink))
        case .failed(let why): return finish(why)
        }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
        switch sink {
        case .backend:
            bytesIn += written
            if !rest.isEmpty { toBackend.append(rest) }
        case .client:
            bytesOut += written
            if !rest.isEmpty { toClient.append(rest) }
        }
    }

    /// A side that finished sending gets its end passed on once everything before it is delivered:
    /// TCP FIN to the backend, close_notify plus FIN to the client.
    private func passOnHalfClose() {
        guard var progress = relayProgress else { return }
        if progress.upstream == .ended && toBackend.isEmpty && !(relayFilter?.isHoldingClientInput ?? false) {
            progress.upstream = .shut
            // With the client side shut as well, finish() below closes the socket, which sends the FIN itself.
            if progress.downstream != .shut {
                backend.sendCloseNotify()
                shutdown(backend.fd, Int32(SHUT_WR))
            }
        }
        if progress.downstream == .ended && !clientOutputPending {
            progress.downstream = .shut
            client.sendCloseNotify()
            if progress.upstream != .shut { shutdown(client.fd, Int32(SHUT_WR)) }
        }
        state = .relaying(progress)
        if progress.upstream == .shut && progress.downstream == .shut {
            finish(progress.firstClosed ?? .closed)
        }
    }
}
