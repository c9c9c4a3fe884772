#if canImport(Glibc)
import Glibc
#endif
import MailTunnelProtocols
import MailTunnelTLS
import Testing
@testable import MailTunnel

/// `Connection` driven in-process through `ConnectionHarness`: the relay and a protocol stage.
@Suite(.serialized) struct ConnectionRelayTests {
    /// A client that stops reading stops mailtunnel reading the backend: the backend's writes block after a
    /// bounded amount (socket buffers and one read), instead of mailtunnel buffering without end.
    @Test func aClientThatStopsReadingStopsTheBackendBeingRead() throws {
        let harness = try ConnectionHarness { _ in }
        let fd = try harness.connectClient()
        defer { close(fd) }
        let client = try TLSTestClient(fd: fd)
        #expect(client.handshake() == .complete)
        #expect(client.send("start\r\n"))
        let backend = try harness.acceptBackend()
        defer { close(backend) }
        #expect(PlainSocket.receive(backend, until: "\r\n") == "start\r\n")
        _ = fcntl(backend, F_SETFL, fcntl(backend, F_GETFL) | O_NONBLOCK)
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        let limit = 64 * 1024 * 1024
        var written = 0
        var blockedTwice = false
        while written < limit && !blockedTwice {
            let n = chunk.withUnsafeBytes { send(backend, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { written += n; continue }
            // Blocked: give mailtunnel time to read more if it were going to, then try once more.
            usleep(200_000)
            let again = chunk.withUnsafeBytes { send(backend, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if again > 0 { written += again } else { blockedTwice = true }
        }
        #expect(blockedTwice, "the backend wrote \(written) bytes without being stopped")
        #expect(written < 48 * 1024 * 1024)
        // Once the client reads, everything arrives and nothing was lost.
        #expect(client.drain(written) == written)
    }

    /// `auth = certificate` without a client certificate: the gate relays the backend's greeting, answers MAIL
    /// itself with 530, and forwards EHLO with the backend's AUTH and STARTTLS hidden from the client.
    @Test func smtpGateRefusesMailBeforeAuthenticationAndRewritesEHLO() throws {
        let harness = try ConnectionHarness { config in
            config.protocol = .smtp
            config.auth = .certificate
            config.verify = .optional
            config.caFile = TestPKI.shared.ca
        }
        let fd = try harness.connectClient()
        defer { close(fd) }
        let client = try TLSTestClient(fd: fd)
        #expect(client.handshake() == .complete)
        let backend = try harness.acceptBackend()
        defer { close(backend) }
        PlainSocket.send(backend, "220 backend ESMTP\r\n")
        #expect(client.receive() == .success("220 backend ESMTP\r\n"))
        #expect(client.send("MAIL FROM:<a@example.org>\r\n"))
        guard case .success(let refusal) = client.receive() else { Issue.record("no reply to MAIL"); return }
        #expect(refusal.hasPrefix("530 5.7.0"))
        #expect(client.send("EHLO client.example\r\n"))
        #expect(PlainSocket.receive(backend, until: "\r\n") == "EHLO client.example\r\n")
        PlainSocket.send(backend, "250-backend\r\n250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
        guard case .success(let ehlo) = client.receive() else { Issue.record("no EHLO reply"); return }
        #expect(ehlo.hasPrefix("250-backend") && ehlo.contains("8BITMIME"))
        #expect(!ehlo.contains("PLAIN") && !ehlo.contains("STARTTLS"), "\(ehlo)")
        // The backend goes away. Not close(): the defer above closes the descriptor, and a second close could
        // hit a descriptor number another test running in parallel got meanwhile (that hung its handshake).
        shutdown(backend, Int32(SHUT_RDWR))
        let line = harness.endedLine()
        #expect(logField(line, "user") == "-", "\(line ?? "no line")")
    }
}
