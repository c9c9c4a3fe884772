#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailTunnelProtocols

extension Connection {
    /// Tries the configured backends in order (failover), starting from `backendIndex`.
    func connectNextBackend() {
        while backendIndex < listener.backends.count {
            let address = listener.backends[backendIndex]
            switch Sockets.startConnect(to: address) {
            case .connected(let fd):
                guard adoptBackend(fd, address) else { return }
                return backendConnected()
            case .inProgress(let fd):
                guard adoptBackend(fd, address) else { return }
                backendWritable = false
                enter(.connecting)
                return
            case .failed(let error):
                listener.logger.debug("backend failed", metadata: ["backend": "\(address)", "error": "\(error.message)"])
                backendIndex += 1
            }
        }
        backendUnavailable()
    }

    /// False when the loop could not watch the socket: the connection is then closed.
    private func adoptBackend(_ fd: Int32, _ address: SocketAddress) -> Bool {
        backendFD = fd
        backendAddress = address
        backendReadable = true
        backendWritable = true
        do { try loop.register(self, fd: fd) } catch { finish("backend \(error)"); return false }
        return true
    }

    func continueConnect() {
        guard backendWritable else { return }
        let error = Sockets.connectResult(backendFD)
        if error == 0 { return backendConnected() }
        backendFailed(String(cString: strerror(error)))
    }

    /// The current backend did not answer: drop it and try the next.
    func backendFailed(_ why: String) {
        if let address = backendAddress {
            listener.logger.debug("backend failed", metadata: ["backend": "\(address)", "error": "\(why)"])
        }
        loop.unregister(fd: backendFD)
        close(backendFD)
        backendFD = -1
        backendAddress = nil
        backendIndex += 1
        connectNextBackend()
    }

    private func backendUnavailable() {
        if let reply = config.protocol.unavailableReply { toClient.append(reply) }
        enter(.closing("backend unavailable"))
        continueClosing("backend unavailable")
    }

    private func backendConnected() {
        lastActivity = loop.now
        if let header = proxyHeaderForBackend() { toBackend.append(header) }
        if config.starttls, let machine = makeStartTLSDialogue(for: config.protocol) {
            dialogue = machine
            enter(.dialogue)
            pumpDialogue()
        } else if needsGate {
            if startGate(backendGreeted: false) { pumpDialogue() }
        } else if needsHandover {
            if startHandover(greeted: false) { pumpDialogue() }
        } else {
            // Relayed from its start: the guard follows the backend's greeting and every reply after it.
            smtpGuard = config.protocol == .smtp ? SMTPRelayGuard(awaitingGreeting: true) : nil
            enter(.relaying)
            pumpRelay()
        }
    }
}
