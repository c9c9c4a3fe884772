import Foundation
import Testing
@testable import MailTunnelTLS

@Suite struct SelfSignedCertificateTests {
    private func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "mailtunnel-tls-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func generatesOnceThenReuses() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try SelfSignedCertificate.loadOrCreate(stateDirectory: dir, commonName: "mail.example")
        #expect(first.created)
        let second = try SelfSignedCertificate.loadOrCreate(stateDirectory: dir, commonName: "mail.example")
        #expect(!second.created)
        #expect(first.certificate == second.certificate)

        let context = try TLSContext(settings: TLSSettings(
            certificateChainFile: first.certificate, privateKeyFile: first.key,
            ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", sessionContext: "test"))
        #expect(context.subject.contains("CN=mail.example"))
        #expect(context.fingerprint.split(separator: ":").count == 32)
        let again = try TLSContext(settings: context.settings)
        #expect(again.fingerprint == context.fingerprint)
    }

    @Test func keyFileIsPrivate() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try SelfSignedCertificate.loadOrCreate(stateDirectory: dir, commonName: "x")
        let attributes = try FileManager.default.attributesOfItem(atPath: files.key)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func mismatchedKeyIsRejectedWithOpenSSLReason() throws {
        let a = temporaryDirectory(), b = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        let one = try SelfSignedCertificate.loadOrCreate(stateDirectory: a, commonName: "one")
        let two = try SelfSignedCertificate.loadOrCreate(stateDirectory: b, commonName: "two")
        #expect(throws: TLSError.self) {
            _ = try TLSContext(settings: TLSSettings(
                certificateChainFile: one.certificate, privateKeyFile: two.key,
                ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", sessionContext: "t"))
        }
    }

    @Test func badCipherStringIsAnError() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try SelfSignedCertificate.loadOrCreate(stateDirectory: dir, commonName: "x")
        do {
            _ = try TLSContext(settings: TLSSettings(
                certificateChainFile: files.certificate, privateKeyFile: files.key,
                ciphers: "NOT-A-CIPHER", sessionContext: "t"))
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("NOT-A-CIPHER"))
        }
    }

    @Test func requireWithoutCAIsAnError() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try SelfSignedCertificate.loadOrCreate(stateDirectory: dir, commonName: "x")
        #expect(throws: TLSError.self) {
            _ = try TLSContext(settings: TLSSettings(
                certificateChainFile: files.certificate, privateKeyFile: files.key,
                ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", clientCertificates: .require, sessionContext: "t"))
        }
    }
}
