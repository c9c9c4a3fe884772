#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailTunnelProtocols
import MailTunnelTLS

/// One client and its backend, owned by a single event loop for its whole life (no locks needed).
/// The phases follow the listener's mode:
///   implicit TLS: handshaking → connecting → [dialogue] → relaying
///   STARTTLS:     connecting → dialogue → handshaking → dialogue → relaying
/// and any phase can end in `closing` (a last reply is flushed) and then `closed`.
final class Connection: DeadlineHolder {
    enum Phase: Equatable {
        case proxyHeader
        case handshaking
        case connecting
        case dialogue
        case relaying
        case closing(String)
        case closed
    }

    unowned let loop: EventLoop
    let listener: ListenerRuntime
    let clientFD: Int32
    let client: SocketAddress
    var backendFD: Int32 = -1
    var backendIndex = 0
    var backendAddress: SocketAddress?
    var phase: Phase
    var slot = -1

    var tls: TLSSession?
    var tlsVersion = "-"
    var tlsCipher = "-"
    var peer: CertificateIdentity?
    var user: String?
    var dialogue: (any MailDialogue)?
    /// The SMTP auth gate runs once per connection, after TLS.
    var gateStarted = false
    var handoverStarted = false
    /// A worker thread holds the dialogue (a libsasl2 call may block); nothing is read until it returns.
    var awaitingWorker = false
    /// Watches every relayed SMTP session (its backend may trust mailtunnel's address for XCLIENT).
    var smtpGuard: SMTPRelayGuard?
    var authFailures = 0
    /// The real client and the address it connected to, from an upstream load balancer's PROXY header.
    var origin: SocketEndpoint?
    var originDestination: SocketEndpoint?
    /// A refusal decided at accept time (connection limits), delivered once the client can read it.
    var refusal: String?
    var startTLSRequested = false
    /// After a fatal TLS error OpenSSL must not be asked to send close_notify.
    var tlsBroken = false

    // Readiness as last reported by epoll and not since contradicted by EAGAIN (edge-triggered bookkeeping).
    var clientReadable = true
    var clientWritable = true
    var backendReadable = true
    var backendWritable = true
    // TLS may need the opposite direction to make progress (e.g. a key update during a read).
    var tlsReadWantsWrite = false
    var tlsWriteWantsRead = false

    var clientEOF = false
    var backendEOF = false
    var clientWriteShut = false
    var backendWriteShut = false
    var firstClosed: String?

    var toClient = ByteQueue()
    var toBackend = ByteQueue()
    var bytesIn = 0
    var bytesOut = 0
    /// When the client was accepted: `handshake-timeout` runs from here until relaying starts.
    let startedAt: Double
    var phaseStartedAt: Double
    /// The last byte either way. Moves on with traffic without touching the loop's timer heap (see `deadline`).
    var lastActivity: Double
    /// Place in the loop's `DeadlineHeap`.
    var heapIndex = -1

    init(loop: EventLoop, listener: ListenerRuntime, fd: Int32, client: SocketAddress, refusal: String?) {
        self.loop = loop
        self.listener = listener
        self.clientFD = fd
        self.client = client
        self.refusal = refusal
        let now = loop.now
        startedAt = now
        phaseStartedAt = now
        lastActivity = now
        phase = listener.config.acceptProxyProtocol ? .proxyHeader : listener.config.starttls ? .connecting : .handshaking
    }

    var config: ListenerConfig { listener.config }

    /// Called on the loop thread right after the hand-off from the accept source.
    func start() {
        loop.adopt(self)
        Sockets.setNoDelay(clientFD)
        do { try loop.register(self, fd: clientFD) } catch { return finish(error.description) }
        if config.acceptProxyProtocol {
            continueProxyHeader()
        } else {
            proceedAfterAccept()
        }
    }

    /// The client is known (directly, or through the PROXY header): start its TLS or its STARTTLS dialogue.
    func proceedAfterAccept() {
        if config.starttls {
            if let refusal {
                refuse(refusal)
            } else {
                connectNextBackend()
            }
        } else {
            beginHandshake()
        }
    }

    func handle(fd: Int32, readiness: Readiness) {
        if fd == clientFD {
            if readiness.readable { clientReadable = true }
            if readiness.writable { clientWritable = true }
        } else if fd == backendFD {
            if readiness.readable { backendReadable = true }
            if readiness.writable { backendWritable = true }
        }
        lastActivity = loop.now
        advance()
    }

    func advance() {
        switch phase {
        case .proxyHeader: continueProxyHeader()
        case .handshaking: continueHandshake()
        case .connecting: continueConnect()
        case .dialogue: pumpDialogue()
        case .relaying: pumpRelay()
        case .closing(let reason): continueClosing(reason)
        case .closed: break
        }
    }

    func enter(_ next: Phase) {
        phase = next
        phaseStartedAt = loop.now
        loop.reschedule(self)
    }

    /// Everything before relaying (PROXY header, TLS handshake, STARTTLS dialogue before and after the upgrade,
    /// backend connects, the SMTP gate until AUTH and XCLIENT are through) must be done by then.
    var preRelayDeadline: Double { startedAt + config.handshakeTimeout }

    /// When the current phase runs out of time. Only phase changes can bring it earlier (they call `enter`,
    /// which re-files the connection); traffic only moves it later.
    var deadline: Double {
        switch phase {
        case .proxyHeader, .handshaking: return preRelayDeadline
        case .connecting: return min(phaseStartedAt + config.connectTimeout, preRelayDeadline)
        case .dialogue: return min(preRelayDeadline, lastActivity + config.idleTimeout)
        case .relaying: return lastActivity + config.idleTimeout
        case .closing: return phaseStartedAt + Self.closingGrace
        case .closed: return .infinity
        }
    }

    /// How long a last reply may take to reach a client that does not read.
    static let closingGrace = 10.0

    /// Called by the loop when `deadline` has passed.
    func checkDeadline(now: Double) {
        guard now >= deadline else { return }
        switch phase {
        case .proxyHeader:
            finish("PROXY header timeout")
        case .handshaking:
            finish("handshake timeout")
        case .connecting, .dialogue:
            if now >= preRelayDeadline {
                // The client gets the protocol's refusal (in plaintext or inside TLS, as the dialogue stands).
                refuse("handshake timeout")
            } else if phase == .connecting {
                backendFailed("connect timeout")
            } else {
                finish("idle timeout")
            }
        case .relaying:
            finish("idle timeout")
        case .closing(let reason):
            finish(reason)
        case .closed:
            break
        }
    }

    /// Sends the listener's protocol reply (if any) and closes.
    func refuse(_ reason: String, reply: [UInt8]? = nil) {
        if let reply = reply ?? config.protocol.refusalReply(reason.prefix(1).uppercased() + reason.dropFirst()) {
            toClient.append(reply)
        }
        enter(.closing(reason))
        continueClosing(reason)
    }

    /// The daemon is stopping and the grace period is over.
    func shutdownNow() {
        guard phase != .closed else { return }
        if case .closing = phase { return finish("shutdown") }
        if let reply = config.protocol.shutdownReply, tlsReady || config.starttls, phase != .handshaking {
            toClient.append(reply)
            flushClient()
        }
        finish("shutdown")
    }

    var tlsReady: Bool { tls != nil && phase != .handshaking }

    func finish(_ reason: String) {
        guard phase != .closed else { return }
        if tlsReady && !tlsBroken { tls?.sendCloseNotify() }
        phase = .closed
        loop.unregister(fd: clientFD)
        discardUnreadInput(clientFD)
        close(clientFD)
        if backendFD >= 0 {
            loop.unregister(fd: backendFD)
            close(backendFD)
        }
        loop.release(self)
        listener.leave(host: client.host, refused: refusal != nil)
        if let machine = dialogue {
            // (While a worker holds the dialogue, its user and failures are not known here.)
            user = user ?? machine.authenticatedUser
            authFailures += machine.failures
        }
        listener.stats.connectionEnded(bytesIn: bytesIn, bytesOut: bytesOut, reason: reason, authFailures: authFailures)
        logEnd(reason)
        tls = nil
        dialogue = nil
        toClient.removeAll()
        toBackend.removeAll()
    }

    /// Closing a socket with unread input makes the kernel send RST, which can destroy our last reply in flight;
    /// reading what is already there first gives the client a clean FIN.
    private func discardUnreadInput(_ fd: Int32) {
        var budget = 4
        while budget > 0, read(fd, loop.scratch.baseAddress, loop.scratch.count) > 0 { budget -= 1 }
    }

    private func logEnd(_ reason: String) {
        let duration = loop.now - startedAt
        var fields: Logger.Metadata = [
            "listener": "\(config.name)", "client": "\(origin?.description ?? client.description)",
            "tls": "\(tlsVersion)", "cipher": "\(tlsCipher)",
            "peer": "\(peer?.subject ?? "-")", "serial": "\(peer?.serial ?? "-")", "identity": "\(peer?.loginName ?? "-")",
            "user": "\(user ?? "-")",
            "backend": "\(backendAddress?.description ?? "-")", "in": "\(bytesIn)", "out": "\(bytesOut)",
            "duration": "\(formatSeconds(duration))", "reason": "\(reason)",
        ]
        if origin != nil { fields["via"] = "\(client.description)" }
        if authFailures > 0 { fields["auth_failures"] = "\(authFailures)" }
        listener.logger.info("connection ended", metadata: fields)
    }
}
