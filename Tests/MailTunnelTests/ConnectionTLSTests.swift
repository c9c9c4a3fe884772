#if canImport(Glibc)
import Glibc
#endif
import MailTunnelTLS
import Testing
@testable import MailTunnel

/// `Connection` and `TLSSession` driven in-process through `ConnectionHarness`: the TLS side.
@Suite(.serialized) struct ConnectionTLSTests {
    @Test func handshakeRelaysAndPassesTheBackendsCloseOnAsCloseNotify() throws {
        let harness = try ConnectionHarness { _ in }
        let fd = try harness.connectClient()
        let client = try TLSTestClient(fd: fd)
        #expect(client.handshake() == .complete)
        #expect(client.send("ping\r\n"))
        let backend = try harness.acceptBackend()
        #expect(PlainSocket.receive(backend, until: "\r\n") == "ping\r\n")
        PlainSocket.send(backend, "pong\r\n")
        #expect(client.receive() == .success("pong\r\n"))
        close(backend)
        #expect(client.receive() == .failure(.closeNotify))
        close(fd) // the client's end follows; the backend, which closed first, names the reason
        let line = harness.endedLine()
        #expect(logField(line, "reason") == "backend closed", "\(line ?? "no line")")
        #expect(logField(line, "tls")?.hasPrefix("TLSv1.") == true)
        #expect(logField(line, "in") == "6" && logField(line, "out") == "6")
    }

    @Test func requiredClientCertificateMissingFailsTheHandshake() throws {
        let harness = try ConnectionHarness { config in
            config.verify = .require
            config.caFile = TestPKI.shared.ca
        }
        let fd = try harness.connectClient()
        defer { close(fd) }
        let client = try TLSTestClient(fd: fd)
        // TLS 1.3: the client may finish before the server refuses; the refusal then ends its first read.
        if client.handshake() == .complete { #expect(client.receive() != .success("")) }
        let line = harness.endedLine()
        #expect(logField(line, "reason")?.hasPrefix("handshake failed:") == true, "\(line ?? "no line")")
    }

    @Test func verifiedClientCertificateNamesTheIdentity() throws {
        let harness = try ConnectionHarness { config in
            config.verify = .require
            config.caFile = TestPKI.shared.ca
            config.crlFile = TestPKI.shared.crl
        }
        let fd = try harness.connectClient()
        let client = try TLSTestClient(fd: fd, identity: "alice")
        #expect(client.handshake() == .complete, "log: \(harness.log.all)")
        #expect(client.send("hello\r\n"))
        let backend = try harness.acceptBackend()
        #expect(PlainSocket.receive(backend, until: "\r\n") == "hello\r\n")
        close(fd)
        // The client's end reaches the backend as a FIN before the backend closes.
        #expect(PlainSocket.receive(backend, until: "never") == "")
        close(backend)
        let line = harness.endedLine()
        #expect(logField(line, "identity") == "alice", "\(line ?? "no line")")
        #expect(logField(line, "reason") == "client closed")
    }

    @Test func revokedClientCertificateIsRefusedByTheCRL() throws {
        let harness = try ConnectionHarness { config in
            config.verify = .require
            config.caFile = TestPKI.shared.ca
            config.crlFile = TestPKI.shared.crl
        }
        let fd = try harness.connectClient()
        defer { close(fd) }
        let client = try TLSTestClient(fd: fd, identity: "mallory")
        if client.handshake() == .complete { #expect(client.receive() != .success("")) }
        let line = harness.endedLine()
        let reason = logField(line, "reason") ?? ""
        #expect(reason.hasPrefix("handshake failed:") && reason.contains("certificate revoked"), "\(line ?? "no line")")
    }
}
