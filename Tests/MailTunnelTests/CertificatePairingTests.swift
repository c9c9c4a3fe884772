import Testing
import MailTunnelTLS
@testable import MailTunnel

/// `cert`, `key` and `ocsp-file` pair by position; stunnel's single `cert`/`key` stay single.
@Suite struct CertificatePairingTests {
    @Test func pairsInOrderWithKeysDefaultingToTheCertFile() throws {
        let dir = try TempDir()
        let (a, b, aKey, bKey) = try (dir.write("a.pem", "pem"), dir.write("b.pem", "pem"),
                                      dir.write("a.key", "key"), dir.write("b.key", "key"))
        let ocsp = try dir.write("a.der", "der")
        let paired = try RunConfig.load(arguments: ["--accept", "993", "--connect", "143", "--cert", a, "--key", aKey,
                                                    "--cert", b, "--key", bKey, "--ocsp-file", ocsp])
        #expect(paired.listeners[0].certificatePairs == [
            CertificatePair(cert: a, key: aKey, ocspFile: ocsp), CertificatePair(cert: b, key: bKey, ocspFile: nil),
        ])
        #expect(paired.listeners[0].cert == a && paired.listeners[0].key == aKey, "the first pair is the default")
        let combined = try RunConfig.load(arguments: ["--accept", "993", "--connect", "143", "--cert", a, "--cert", b])
        #expect(combined.listeners[0].certificatePairs.map(\.key) == [a, b], "each cert file holds its own key")
    }

    @Test func mismatchedCountsAreErrors() throws {
        let dir = try TempDir()
        let (a, b, key, ocsp) = try (dir.write("a.pem", "pem"), dir.write("b.pem", "pem"), dir.write("a.key", "key"),
                                     dir.write("a.der", "der"))
        let keys = loadErrors(["--accept", "993", "--connect", "143", "--cert", a, "--cert", b, "--key", key])
        #expect(keys.map(\.key) == ["--key"] && keys[0].message.contains("1 key line(s) for 2 cert line(s)"))
        let staples = loadErrors(["--accept", "993", "--connect", "143", "--cert", a, "--ocsp-file", ocsp,
                                  "--ocsp-file", ocsp])
        #expect(staples.map(\.key) == ["--ocsp-file"] && staples[0].message.contains("2 ocsp-file line(s) for 1 cert"))
        let alone = loadErrors(["--accept", "993", "--connect", "143", "--ocsp-file", ocsp])
        #expect(alone.map(\.key) == ["--ocsp-file"])
    }

    @Test func stunnelCertAndKeyStaySingle() throws {
        let dir = try TempDir()
        let (first, second, key) = try (dir.write("one.pem", "pem"), dir.write("two.pem", "pem"), dir.write("k.key", "key"))
        let conf = try dir.write("stunnel.conf", """
            cert = \(first)
            key = \(key)
            [imaps]
            accept = 993
            connect = 143
            cert = \(second)
            [pop3s]
            accept = 995
            connect = 110
            cert = \(first)
            cert = \(second)
            """)
        let run = try RunConfig.load(arguments: ["--stunnel-config", conf])
        #expect(run.listeners.map(\.certificatePairs) == [
            [CertificatePair(cert: second, key: key, ocspFile: nil)],
            [CertificatePair(cert: second, key: key, ocspFile: nil)],
        ])
    }
}
