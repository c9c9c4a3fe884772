import Testing
@testable import MailTunnelProtocols

@Suite struct IPNetworkTests {
    @Test func parsesNetworksAndSingleHosts() throws {
        let v4 = try #require(IPNetwork("10.0.0.0/8"))
        #expect(v4.prefixLength == 8 && v4.description == "10.0.0.0/8")
        let host = try #require(IPNetwork("::1"))
        #expect(host.prefixLength == 128 && host.description == "::1")
        #expect(IPNetwork("2001:db8::/32")?.description == "2001:db8::/32")
        #expect(IPNetwork("0.0.0.0/0")?.prefixLength == 0)
        #expect(IPNetwork("192.0.2.7")?.description == "192.0.2.7")
    }

    @Test func refusesMalformedOrAmbiguousText() {
        for text in ["", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
                     "10.0.0.1/8", "2001:db8::1/64", "example.org", "10.0.0.0 /8", "10.0.0.0/0008"] {
            #expect(IPNetwork(text) == nil, "\(text)")
        }
    }

    @Test func containsByPrefixAcrossMappedForms() throws {
        let loopback = try #require(IPNetwork("127.0.0.0/8"))
        #expect(loopback.contains(try #require(IPAddress("127.0.0.1"))))
        #expect(loopback.contains(try #require(IPAddress("127.255.255.254"))))
        #expect(!loopback.contains(try #require(IPAddress("128.0.0.1"))))
        #expect(loopback.contains(try #require(IPAddress("::ffff:127.0.0.1"))))
        #expect(!loopback.contains(try #require(IPAddress("::1"))))
        let odd = try #require(IPNetwork("192.0.2.128/25"))
        #expect(odd.contains(try #require(IPAddress("192.0.2.200"))))
        #expect(!odd.contains(try #require(IPAddress("192.0.2.127"))))
        let six = try #require(IPNetwork("2001:db8:a::/48"))
        #expect(six.contains(try #require(IPAddress("2001:db8:a:ffff::1"))))
        #expect(!six.contains(try #require(IPAddress("2001:db8:b::1"))))
        #expect(!six.contains(try #require(IPAddress("10.0.0.1"))))
        #expect(try #require(IPNetwork("::1")).contains(try #require(IPAddress("::1"))))
        #expect(try #require(IPNetwork("0.0.0.0/0")).contains(try #require(IPAddress("203.0.113.9"))))
    }

    @Test func listsSplitOnCommasAndSpaces() {
        #expect(IPNetwork.list("127.0.0.0/8, ::1")?.map(\.description) == ["127.0.0.0/8", "::1"])
        #expect(IPNetwork.list("10.0.0.0/8,192.168.0.0/16")?.count == 2)
        #expect(IPNetwork.list("10.0.0.0/8, nonsense") == nil)
        #expect(IPNetwork.list(" , ") == nil)
    }

    @Test func clientKeyIsTheIPv4AddressOrTheIPv6Slash64() throws {
        #expect(try #require(IPAddress("192.0.2.9")).clientKey.description == "192.0.2.9")
        #expect(try #require(IPAddress("::ffff:192.0.2.9")).clientKey.description == "192.0.2.9")
        let a = try #require(IPAddress("2001:db8:1:2:aaaa::1")).clientKey
        let b = try #require(IPAddress("2001:db8:1:2:ffff:ffff:ffff:ffff")).clientKey
        let c = try #require(IPAddress("2001:db8:1:3::1")).clientKey
        #expect(a == b && a.description == "2001:db8:1:2::/64")
        #expect(a != c)
        #expect(try #require(IPAddress("::1")).clientKey.description == "::/64")
    }
}

/// A policy that allows a fixed number of attempts and records what the gate told it.
final class CountingPolicy: AuthAttemptPolicy, @unchecked Sendable {
    var remaining: Int
    var reserved = 0
    var ended: [Bool] = []
    init(allow: Int) { remaining = allow }
    func mayAttempt() -> Bool {
        guard remaining > 0 else { return false }
        remaining -= 1
        reserved += 1
        return true
    }
    func attemptEnded(failed: Bool) { reserved -= 1; ended.append(failed) }
}

@Suite struct SMTPAuthGatePolicyTests {
    func gate(_ policy: CountingPolicy, auth: FakeAuthenticator = FakeAuthenticator(), limit: Int = 3) -> SMTPAuthGateDialogue {
        var gate = SMTPAuthGateDialogue(mode: .sasl, authenticator: auth, client: nil, certificateIdentity: nil,
                                        xclient: false, failureLimit: limit, attemptPolicy: policy)
        _ = gate.backend("220 hi\r\n")
        _ = gate.client("EHLO c\r\n")
        _ = gate.backend(backendEHLO)
        return gate
    }

    @Test func failuresAreReportedAsTheyHappen() {
        let policy = CountingPolicy(allow: 10)
        var g = gate(policy)
        let wrong = Base64.encode(Array("\0alice\0wrong".utf8))
        #expect(g.client("AUTH PLAIN \(wrong)\r\n") == [toClient("535 5.7.8 Authentication credentials invalid\r\n")])
        #expect(policy.ended == [true] && policy.reserved == 0)
        #expect(g.client("AUTH PLAIN not*base64\r\n") == [toClient("501 5.5.2 Cannot decode response\r\n")])
        #expect(policy.ended == [true, true])
    }

    @Test func overTheLimitNoCredentialIsChecked() {
        let policy = CountingPolicy(allow: 0)
        let auth = FakeAuthenticator()
        var g = gate(policy, auth: auth)
        let reply = "454 4.7.0 Too many failed authentication attempts from your address, try again later\r\n"
        #expect(g.client("AUTH PLAIN \(plainAlice)\r\n") == [toClient(reply)])
        #expect(auth.calls.isEmpty)
        #expect(g.failures == 0 && g.authenticatedUser == nil)
        // Refusals do not close the session or count against the per-connection limit.
        #expect(g.client("AUTH PLAIN \(plainAlice)\r\n") == [toClient(reply)])
        #expect(g.client("NOOP\r\n") == [toClient("250 2.0.0 Ok\r\n")])
    }

    @Test func everyStepOfAnExchangeAsksFirst() {
        // LOGIN: the command, the user name and the password each ask; the password step is refused.
        let policy = CountingPolicy(allow: 2)
        let auth = FakeAuthenticator()
        var g = gate(policy, auth: auth)
        #expect(g.client("AUTH LOGIN\r\n") == [toClient("334 VXNlcm5hbWU6\r\n")])
        #expect(g.client("YWxpY2U=\r\n") == [toClient("334 UGFzc3dvcmQ6\r\n")])
        #expect(g.client("c2VjcmV0\r\n").first
                == toClient("454 4.7.0 Too many failed authentication attempts from your address, try again later\r\n"))
        #expect(auth.calls == ["start LOGIN nil", "step alice"])
        #expect(policy.ended == [false, false] && policy.reserved == 0)
        // The refused exchange is over: the session is back at the command level.
        #expect(g.client("NOOP\r\n") == [toClient("250 2.0.0 Ok\r\n")])
    }

    @Test func successEndsTheAttemptWithoutAFailure() {
        let policy = CountingPolicy(allow: 1)
        var g = gate(policy)
        #expect(g.client("AUTH PLAIN \(plainAlice)\r\n") == [toClient("235 2.7.0 Authentication successful\r\n"), .relay])
        #expect(policy.ended == [false] && policy.reserved == 0)
    }
}
