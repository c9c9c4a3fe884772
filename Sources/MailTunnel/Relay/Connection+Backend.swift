#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailTunnelProtocols

/// Reaching a backend: the configured ones in order (failover), each with a non-blocking connect.
extension Connection {
    /// Tries the configured backends in order, starting from the current one.
    func connectNextBackend() {
        while backend.index < listener.backends.count {
            let address = listener.backends[backend.index]
            switch Sockets.startConnect(to: address) {
            case .connected(let fd):
                guard adoptBackend(fd, address) else { return }
                return backendConnected()
            case .inProgress(let fd):
                guard adoptBackend(fd, address) else { return }
                backend.writable = false
                enter(.connecting(since: loop.now))
                return
            case .failed(let error):
                logBackendFailure(address, error.message)
                backend.skip()
            }
        }
        backendUnavailable()
    }

    /// False when the loop could not watch the socket: the connection is then closed.
    private func adoptBackend(_ fd: Int32, _ address: SocketAddress) -> Bool {
        backend.adopt(fd, address)
        do { try loop.register(self, fd: fd) } catch { finish(.notWatched(.backend, "\(error)")); return false }
        return true
    }

    func continueConnect() {
        guard backend.writable else { return }
        let error = Sockets.connectResult(backend.fd)
        if error == 0 { return backendConnected() }
        backendFailed(String(cString: strerror(error)))
    }

    /// The current backend did not answer: drop it and try the next.
    func backendFailed(_ why: String) {
        if let address = backend.address { logBackendFailure(address, why) }
        loop.unregister(fd: backend.fd)
        backend.dropAndMoveOn()
        connectNextBackend()
    }

    /// Kept for the connection's own line, which says why at the default level; failover is debug detail.
    private func logBackendFailure(_ address: SocketAddress, _ why: String) {
        backend.failures.append("connect \(address): \(why)")
        listener.logger.debug("backend failed", metadata: ["backend": "\(address)", "error": "\(why)"])
    }

    private func backendUnavailable() {
        if let reply = profile.unavailableReply { toClient.append(reply) }
        beginClosing(.backendUnavailable)
        continueClosing(.backendUnavailable)
    }

    private func backendConnected() {
        lastActivity = loop.now
        if config.client { return beginSecuringServer() }
        if let header = proxyHeaderForBackend() { toBackend.append(header) }
        // The profile decides what runs before the relay (STARTTLS, the SMTP gate, the XCLIENT hand-over).
        if startStage(after: nil, inheritedFilter: nil) { advance() }
    }
}
