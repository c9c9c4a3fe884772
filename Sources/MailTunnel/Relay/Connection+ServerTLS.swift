import Logging
import MailTunnelProtocols
import MailTunnelTLS

/// Client mode: where the TLS towards the remote server stands before relaying.
enum ServerUpgrade {
    /// mailtunnel speaks the protocol's upgrade with the server (`starttls = yes`).
    case dialogue(StartTLSClientDialogue)
    /// The handshake; `greeting` is what the local application reads once it is done.
    case handshaking(TLSSession, greeting: [UInt8])
}

/// Client mode (`client = yes`): the local application speaks plaintext, mailtunnel speaks TLS to the server —
/// from the first byte, or after the protocol's STARTTLS, which mailtunnel conducts itself. Nothing is read from
/// the local application until TLS is up, so none of its bytes can reach the server in the clear. Any failure
/// (no STARTTLS offered, a refusal, a certificate that does not verify or names another host) gives the
/// application the protocol's temporary error.
extension Connection {
    /// The name the server's certificate must carry; also its SNI and the key of its kept session.
    var serverName: String { config.verifyHost ?? listener.backendHosts[backend.index] }

    func beginSecuringServer() {
        guard config.usesStartTLS else { return startServerHandshake(greeting: []) }
        guard let dialogue = StartTLSClientDialogue(protocol: config.protocol, clientName: listener.localHostName) else {
            return refuse(.serverTLSFailed("protocol \(config.protocol.rawValue) has no STARTTLS"))
        }
        enter(.securingServer(.dialogue(dialogue)))
        continueSecuringServer()
    }

    func continueSecuringServer() {
        guard case .securingServer(let upgrade) = state else { return }
        switch upgrade {
        case .dialogue(var dialogue):
            while flushBackend(), toBackend.isEmpty, backend.readable {
                let actions: [StartTLSClientDialogue.Action]
                switch backend.read(into: loop.scratch) {
                case .bytes(let n):
                    actions = dialogue.receive(Array(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<n]))[...])
                case .eof: actions = dialogue.serverClosed()
                case .wouldBlock: return
                case .failed(let why): return refuse(.serverTLSFailed(why.description))
                }
                state = .securingServer(.dialogue(dialogue))
                for action in actions {
                    switch action {
                    case .send(let bytes): toBackend.append(bytes)
                    case .startTLS: return startServerHandshake(greeting: dialogue.greetingForApplication)
                    case .fail(let why): return refuse(.serverTLSFailed(why))
                    }
                }
            }
        case .handshaking(let session, let greeting):
            switch session.handshake() {
            case .complete: serverSecured(session, greeting: greeting)
            case .wantRead: backend.readable = false
            case .wantWrite: backend.writable = false
            case .failed(let error):
                // A certificate that did not verify says why in X509 terms, clearer than the handshake's alert.
                let verify = session.verifyResultText
                let why = verify == "ok" ? error.reasons : ["certificate: \(verify)"]
                refuse(.serverTLSFailed(why.joined(separator: "; ")))
            }
        }
    }

    private func startServerHandshake(greeting: [UInt8]) {
        guard let context = listener.serverTLS else { return finish(.noTLSContext) }
        let session: TLSSession
        do { session = try context.makeSession(socket: backend.fd, serverName: serverName) } catch {
            return refuse(.serverTLSFailed("\(error)"))
        }
        backend.tlsStarted = session
        enter(.securingServer(.handshaking(session, greeting: greeting)))
        continueSecuringServer()
    }

    private func serverSecured(_ session: TLSSession, greeting: [UInt8]) {
        backend.handshakeCompleted(session)
        listener.logger.debug("server TLS established", metadata: [
            "listener": "\(config.name)", "backend": "\(backend.address?.description ?? "-")",
            "server_tls": "\(session.version)", "cipher": "\(session.cipher)",
            "resumed": "\(backend.resumed ? "yes" : "no")",
        ])
        toClient.append(greeting)
        relayFilter = nil
        enter(.relaying(RelayProgress()))
        pumpRelay()
    }

    /// The connection ends: its TLS session towards the server hands out no more sessions to keep.
    func forgetServerSession() {
        guard let context = listener.serverTLS, let session = backend.tlsStarted else { return }
        context.forget(session)
    }
}
