#if canImport(Glibc)
import Glibc
#endif
import MailTunnelProtocols
import MailTunnelTLS

/// PROXY protocol on both sides: reading an upstream balancer's header, and telling the backend who connected.
extension Connection {
    /// The header is peeked, never over-read: only its exact length is consumed, so the TLS ClientHello (or the
    /// first plaintext command) behind it stays in the socket for the next phase.
    /// Only peers in `accept-proxy-from` may speak for a client; anyone else is closed before a byte is read.
    func continueProxyHeader() {
        guard peerMaySendProxyHeader else { return finish(.untrustedProxyPeer) }
        guard client.readable else { return }
        // The 16-byte v2 fixed part plus the largest payload the decoder accepts; v1 (107 bytes at most) fits too.
        let limit = 16 + ProxyProtocol.defaultV2MaxPayload
        let peeked = recv(client.fd, loop.scratch.baseAddress, limit, Int32(MSG_PEEK))
        if peeked == 0 { return finish(.closedBeforeProxyHeader) }
        if peeked < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { client.readable = false; return }
            return finish(.socketError(.client, errno))
        }
        let bytes = Array(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<peeked]))
        switch ProxyProtocol.decode(bytes[...]) {
        case .needMore:
            if peeked >= limit { return finish(.badProxyHeader("too long")) }
            client.readable = false // everything available was peeked; the next edge brings more
        case .invalid(let why):
            finish(.badProxyHeader(why))
        case .header(let header, let consumed):
            // The peeked bytes are already queued, so one recv takes exactly the header.
            guard recv(client.fd, loop.scratch.baseAddress, consumed, 0) == consumed else {
                return finish(.proxyHeaderUnreadable)
            }
            if header.command == .proxy {
                client.origin = header.source
                client.originDestination = header.destination
            }
            proceedAfterAccept()
        }
    }

    private var peerMaySendProxyHeader: Bool {
        guard let peer = IPAddress(client.address.host) else { return false }
        return config.trustedProxies.contains { $0.contains(peer) }
    }

    /// `proxy-protocol = v1|v2`: the first bytes the backend receives name the real client (v2 adds TLS facts).
    func proxyHeaderForBackend() -> [UInt8]? {
        let version: ProxyProtocol.Version
        switch config.proxyProtocol {
        case .none: return nil
        case .v1: version = .v1
        case .v2: version = .v2
        }
        var ssl: ProxySSLInfo?
        if let session = client.session {
            let facts = client.facts
            var flags: ProxySSLInfo.ClientFlags = [.ssl]
            if facts.peer != nil { flags.insert(.certificateOnConnection) }
            ssl = ProxySSLInfo(client: flags, verify: session.verifyFailure == nil && facts.peer != nil ? 0 : 1,
                               version: facts.version, commonName: facts.peer?.loginName, cipher: facts.cipher)
        }
        let destination = client.originDestination ?? SocketEndpoint(Sockets.localAddress(client.fd))
        guard let source = client.endpoint, let destination else { return ProxyProtocol.encode(.local, version: version) }
        return ProxyProtocol.encode(ProxyHeader(source: source, destination: destination, ssl: ssl), version: version)
    }
}
