#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailTunnelProtocols
import MailTunnelTLS

/// One client and its backend, owned by a single event loop for its whole life (no locks needed).
/// It owns the two sides (`ClientSide` with its TLS session, `BackendSide`), the bytes queued for each, and
/// `state`; its extensions are the stage machine (Connection+Stages, +Dialogue, +Offload), the relay pump
/// (+Relay, +RelayFilter), the TLS handshake, the PROXY protocol and the deadlines.
final class Connection: DeadlineHolder {
    unowned let loop: EventLoop
    let listener: ListenerRuntime
    var client: ClientSide
    var backend = BackendSide()
    var state: ConnectionState
    /// A refusal decided at accept time (connection limits), delivered once the client can read it.
    let admissionRefusal: EndReason?
    var slot = -1

    var toClient = ByteQueue()
    var toBackend = ByteQueue()
    /// Watches the relayed session for the profile (the SMTP relay guard); nil relays bytes untouched.
    var relayFilter: (any RelayFilter)?
    var user: String?
    var authFailures = 0
    var bytesIn = 0
    var bytesOut = 0
    /// How much of `bytesIn`/`bytesOut` the listener's counters have, and when they got it (Connection+ByteReport).
    var reportedIn = 0
    var reportedOut = 0
    var reportedAt: ContinuousClock.Instant
    /// When the client's TLS handshake began, for the handshake duration histogram.
    var handshakeBegan: ContinuousClock.Instant?
    /// When the client was accepted: `handshake-timeout` runs from here until relaying starts.
    let startedAt: ContinuousClock.Instant
    /// The last byte either way. Moves on with traffic without touching the loop's timer heap (see `deadline`).
    var lastActivity: ContinuousClock.Instant
    /// Place in the loop's `DeadlineHeap`.
    var heapIndex = -1

    init(loop: EventLoop, listener: ListenerRuntime, fd: Int32, client: SocketAddress, refusal: String?) {
        self.loop = loop
        self.listener = listener
        self.client = ClientSide(fd: fd, address: client)
        self.admissionRefusal = refusal.map(EndReason.refused)
        let now = loop.now
        startedAt = now
        lastActivity = now
        reportedAt = now
        state = listener.config.acceptProxyProtocol ? .proxyHeader
            : listener.config.plaintextClient ? .connecting(since: now) : .handshaking(resuming: nil)
    }

    var config: ListenerConfig { listener.config }
    var profile: any ProtocolProfile { listener.profile }

    /// Called on the loop thread right after the hand-off from the accept source.
    func start() {
        loop.adopt(self)
        Sockets.setNoDelay(client.fd)
        do { try loop.register(self, fd: client.fd) } catch { return finish(.notWatched(.client, error.description)) }
        if config.acceptProxyProtocol {
            continueProxyHeader()
        } else {
            proceedAfterAccept()
        }
    }

    /// The client is known (directly, or through the PROXY header): start its TLS or its STARTTLS dialogue.
    func proceedAfterAccept() {
        if config.plaintextClient {
            if let admissionRefusal {
                refuse(admissionRefusal)
            } else {
                connectNextBackend()
            }
        } else {
            beginHandshake()
        }
    }

    func handle(fd: Int32, readiness: Readiness) {
        if fd == client.fd {
            if readiness.readable { client.readable = true }
            if readiness.writable { client.writable = true }
        } else if fd == backend.fd {
            if readiness.readable { backend.readable = true }
            if readiness.writable { backend.writable = true }
        }
        lastActivity = loop.now
        advance()
    }

    func advance() {
        switch state {
        case .proxyHeader: continueProxyHeader()
        case .handshaking: continueHandshake()
        case .connecting: continueConnect()
        case .securingServer: continueSecuringServer()
        case .dialogue: pumpDialogue()
        case .relaying: pumpRelay()
        case .closing(let reason, _): continueClosing(reason)
        case .closed: break
        }
    }

    /// Every phase change goes through here: the deadline may have come earlier, so the loop files it again.
    func enter(_ next: ConnectionState) {
        state = next
        loop.reschedule(self)
    }

    /// Sends the listener's protocol reply (the profile's refusal unless `reply` is given) and closes.
    func refuse(_ reason: EndReason, reply: [UInt8]? = nil) {
        if let reply = reply ?? profile.refusalReply(reason.refusalText) {
            toClient.append(reply)
        }
        beginClosing(reason)
        continueClosing(reason)
    }

    /// Flushes a last reply before `finish`. A dialogue that was running is done: its user and failures are kept.
    func beginClosing(_ reason: EndReason) {
        if let machine = state.dialogueMachine { collect(machine) }
        enter(.closing(reason, since: loop.now))
    }

    /// The daemon is stopping and the grace period is over.
    func shutdownNow() {
        switch state {
        case .closed: return
        case .closing: return finish(.shutdown)
        case .handshaking: break
        case .proxyHeader, .connecting, .securingServer, .dialogue, .relaying:
            if let reply = profile.shutdownReply, client.session != nil || config.plaintextClient {
                toClient.append(reply)
                flushClient()
            }
        }
        finish(.shutdown)
    }

    func finish(_ reason: EndReason) {
        if state.isClosed { return }
        client.sendCloseNotify() // only an established, unbroken session has one to send
        forgetServerSession()
        backend.sendCloseNotify()
        let endedIn = state
        state = .closed
        loop.unregister(fd: client.fd)
        discardUnreadInput(client.fd)
        close(client.fd)
        if backend.isOpen {
            loop.unregister(fd: backend.fd)
            close(backend.fd)
        }
        loop.release(self)
        listener.leave(host: client.address.host, refused: admissionRefusal != nil)
        // (While a worker holds the dialogue, its user and failures are not known here.)
        if let machine = endedIn.dialogueMachine { collect(machine) }
        reportRelayedBytes()
        listener.stats.connectionEnded(outcome: reason.outcome, authFailures: authFailures)
        logEnd(reason)
        client.tls = .none
        relayFilter = nil
        toClient.removeAll()
        toBackend.removeAll()
    }

    /// Takes the user and the failed attempts from a dialogue that is done.
    func collect(_ machine: any MailDialogue) {
        user = user ?? machine.authenticatedUser
        authFailures += machine.failures
    }

    /// Closing a socket with unread input makes the kernel send RST, which can destroy our last reply in flight;
    /// reading what is already there first gives the client a clean FIN.
    private func discardUnreadInput(_ fd: Int32) {
        var budget = 4
        while budget > 0, read(fd, loop.scratch.baseAddress, loop.scratch.count) > 0 { budget -= 1 }
    }

    private func logEnd(_ reason: EndReason) {
        // The fields cost a dozen strings and two address lookups: none of that for a line that is not written.
        guard listener.logger.logLevel <= .info else { return }
        let facts = client.facts
        var fields: Logger.Metadata = [
            "listener": "\(config.name)", "client": "\(client.origin?.description ?? client.address.description)",
            "tls": "\(facts.version)", "cipher": "\(facts.cipher)",
            "peer": "\(facts.peer?.subject ?? "-")", "serial": "\(facts.peer?.serial ?? "-")",
            "identity": "\(facts.peer?.loginName ?? "-")", "user": "\(user ?? "-")",
            "backend": "\(backend.address?.description ?? "-")", "in": "\(bytesIn)", "out": "\(bytesOut)",
            "duration": "\(formatSeconds(loop.now - startedAt))", "reason": "\(reason.description)",
        ]
        if client.origin != nil { fields["via"] = "\(client.address.description)" }
        if !backend.failures.isEmpty { fields["backend_error"] = "\(backend.failures.joined(separator: "; "))" }
        if let session = backend.session {
            fields["server_tls"] = "\(session.version)"
            fields["resumed"] = "\(backend.resumed ? "yes" : "no")"
        }
        if listener.isTrusted(host: client.host) { fields["trusted"] = "yes" }
        if authFailures > 0 { fields["auth_failures"] = "\(authFailures)" }
        listener.logger.info("connection ended", metadata: fields)
    }
}

extension ConnectionState {
    /// The dialogue held in this state, if the loop holds it (not while a worker does).
    var dialogueMachine: (any MailDialogue)? {
        switch self {
        case .dialogue(let dialogue), .handshaking(resuming: .some(let dialogue)):
            switch dialogue.machine {
            case .running(let machine), .upgrading(let machine): return machine
            case .lent: return nil
            }
        case .proxyHeader, .handshaking(resuming: .none), .connecting, .securingServer, .relaying, .closing, .closed:
            return nil
        }
    }
}
