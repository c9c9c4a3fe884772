#if canImport(Glibc)
import Glibc
#endif
import MailTunnelProtocols
import MailTunnelTLS

/// Where the client's TLS stands; it decides whether client bytes go through OpenSSL.
enum ClientTLS {
    /// No TLS yet (STARTTLS before the upgrade, a PROXY header), or the session was freed at close.
    case none
    case handshaking(TLSSession)
    case established(TLSSession)
    /// After a fatal TLS error OpenSSL must not be asked to send close_notify.
    case failed
}

/// What the TLS handshake told about the client, for logs, the gate and the backend's PROXY header.
struct TLSFacts {
    var version = "-"
    /// OpenSSL's own name of the cipher, static for the life of the process: the string is made only when it is
    /// logged or sent, so an idle connection holds no copy.
    var cipherName: UnsafePointer<CChar>?
    /// The client certificate's identity, boxed in an array: held inline it would add about 120 bytes to every
    /// connection, and most clients send no certificate (an empty array allocates nothing).
    private var peerBox: [CertificateIdentity] = []

    init(version: String = "-", cipherName: UnsafePointer<CChar>? = nil, peer: CertificateIdentity? = nil) {
        self.version = version
        self.cipherName = cipherName
        self.peer = peer
    }

    var peer: CertificateIdentity? {
        get { peerBox.first }
        set { peerBox = newValue.map { [$0] } ?? [] }
    }

    var cipher: String { cipherName.map { String(cString: $0) } ?? "-" }
}

/// The accepted socket and everything known about it: its TLS session, its readiness, who it really is.
struct ClientSide {
    let fd: Int32
    let address: SocketAddress
    var tls = ClientTLS.none
    var facts = TLSFacts()
    /// The real client and the address it connected to, from an upstream load balancer's PROXY header.
    var origin: SocketEndpoint?
    var originDestination: SocketEndpoint?

    // Readiness as last reported by epoll and not since contradicted by EAGAIN (edge-triggered bookkeeping).
    var readable = true
    var writable = true
    // TLS may need the opposite direction to make progress (e.g. a key update during a read).
    private var readWantsWrite = false
    private(set) var writeWantsRead = false

    init(fd: Int32, address: SocketAddress) {
        self.fd = fd
        self.address = address
    }

    var canRead: Bool { readWantsWrite ? writable : readable }
    var canWrite: Bool { writeWantsRead ? readable : writable }

    var session: TLSSession? {
        if case .established(let session) = tls { return session }
        return nil
    }

    /// The client's address as XCLIENT, SASL and PROXY headers should see it.
    var endpoint: SocketEndpoint? { origin ?? SocketEndpoint(address) }
    var host: String { origin?.address.description ?? address.host }

    mutating func handshakeCompleted(_ session: TLSSession) {
        tls = .established(session)
        writeWantsRead = false
        facts = TLSFacts(version: session.version, cipherName: session.cipherName, peer: session.peerIdentity)
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> IOOutcome {
        guard let session else { return SocketIO.read(fd, into: buffer, readable: &readable, side: .client) }
        let outcome = SocketIO.read(session, into: buffer, readable: &readable, writable: &writable,
                                    readWantsWrite: &readWantsWrite, side: .client)
        if outcome.isTLSFailure { tls = .failed }
        return outcome
    }

    /// `staging`: where a TLS session collects the records of one write to send them in one system call.
    mutating func write(_ buffer: UnsafeRawBufferPointer, staging: UnsafeMutableRawBufferPointer? = nil) -> IOOutcome {
        guard let session else { return SocketIO.write(fd, buffer, writable: &writable, side: .client) }
        let outcome = SocketIO.write(session, buffer, staging: staging, readable: &readable, writable: &writable,
                                     writeWantsRead: &writeWantsRead, side: .client)
        if outcome.isTLSFailure { tls = .failed }
        return outcome
    }

    /// Ciphertext a coalesced write left unsent (the socket was full): it must leave before anything else.
    var hasOwedOutput: Bool { session?.hasOwedOutput ?? false }

    /// Sends what a coalesced write left behind: `.bytes(0)` once nothing is owed, `.wouldBlock` while the
    /// socket is full, a failure when the client is gone.
    mutating func flushOwed() -> IOOutcome {
        guard let session, session.hasOwedOutput else { return .bytes(0) }
        guard canWrite else { return .wouldBlock }
        switch session.flushOwed() {
        case .bytes: return .bytes(0)
        case .wantWrite, .wantRead:
            writable = false
            return .wouldBlock
        case .eof, .closed:
            tls = .failed
            return .failed(.closedBy(.client))
        case .failed(let error):
            tls = .failed
            return .failed(.clientTLSError(error.reasons))
        }
    }

    /// Sends close_notify if the session is intact (once; TLSSession remembers).
    func sendCloseNotify() { session?.sendCloseNotify() }
}

extension SocketEndpoint {
    init?(_ address: SocketAddress?) {
        guard let address, let ip = IPAddress(address.host) else { return nil }
        self.init(address: ip, port: UInt16(truncatingIfNeeded: address.port))
    }
}
