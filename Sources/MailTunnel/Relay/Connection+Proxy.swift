#if canImport(Glibc)
import Glibc
#endif
import MailTunnelProtocols

/// PROXY protocol on both sides: reading an upstream balancer's header, and telling the backend who connected.
extension Connection {
    /// The header is peeked, never over-read: only its exact length is consumed, so the TLS ClientHello (or the
    /// first plaintext command) behind it stays in the socket for the next phase.
    func continueProxyHeader() {
        guard clientReadable else { return }
        let limit = 536 // 16-byte v2 prefix + the decoder's payload cap, with room for v1's 107
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
            _ = recv(clientFD, loop.scratch.baseAddress, consumed, 0)
            if header.command == .proxy {
                origin = header.source
                originDestination = header.destination
            }
            proceedAfterAccept()
        }
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
