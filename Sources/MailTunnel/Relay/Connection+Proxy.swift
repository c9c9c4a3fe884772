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
        guard peerMaySendProxyHeader else { return finish("PROXY header from untrusted peer") }
        guard clientReadable else { return }
        // The 16-byte v2 fixed part plus the largest payload the decoder accepts; v1 (107 bytes at most) fits too.
        let limit = 16 + ProxyProtocol.defaultV2MaxPayload
        let peeked = recv(clientFD, loop.scratch.baseAddress, limit, Int32(MSG_PEEK))
        if peeked == 0 { return finish("client closed before its PROXY header") }
        if peeked < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { clientReadable = false; return }
            return finish("client error: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<peeked]))
        switch ProxyProtocol.decode(bytes[...]) {
        case .needMore:
            if peeked >= limit { return finish("bad PROXY header: too long") }
            clientReadable = false // everything available was peeked; the next edge brings more
        case .invalid(let why):
            finish("bad PROXY header: \(why)")
        case .header(let header, let consumed):
            // The peeked bytes are already queued, so one recv takes exactly the header.
            guard recv(clientFD, loop.scratch.baseAddress, consumed, 0) == consumed else {
                return finish("client error while reading its PROXY header")
            }
            if header.command == .proxy {
                origin = header.source
                originDestination = header.destination
            }
            proceedAfterAccept()
        }
    }

    private var peerMaySendProxyHeader: Bool {
        guard let peer = IPAddress(client.host) else { return false }
        return config.trustedProxies.contains { $0.contains(peer) }
    }

    /// The client's address as XCLIENT, SASL and PROXY headers should see it.
    var clientEndpoint: SocketEndpoint? { origin ?? Self.endpoint(client) }
    var clientHost: String { origin?.address.description ?? client.host }

    static func endpoint(_ address: SocketAddress?) -> SocketEndpoint? {
        guard let address, let ip = IPAddress(address.host) else { return nil }
        return SocketEndpoint(address: ip, port: UInt16(truncatingIfNeeded: address.port))
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
        if let tls, tlsReady {
            var flags: ProxySSLInfo.ClientFlags = [.ssl]
            if peer != nil { flags.insert(.certificateOnConnection) }
            ssl = ProxySSLInfo(client: flags, verify: tls.verifyFailure == nil && peer != nil ? 0 : 1,
                               version: tlsVersion, commonName: peer?.loginName, cipher: tlsCipher)
        }
        let destination = originDestination ?? Self.endpoint(Sockets.localAddress(clientFD))
        guard let source = clientEndpoint, let destination else { return ProxyProtocol.encode(.local, version: version) }
        return ProxyProtocol.encode(ProxyHeader(source: source, destination: destination, ssl: ssl), version: version)
    }
}
