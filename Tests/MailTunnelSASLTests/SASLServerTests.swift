import Foundation
import Testing
import MailTunnelProtocols
@testable import MailTunnelSASL

/// A real libsasl2 configuration in a temp directory: a sasldb made with saslpasswd2 and
/// `mailtunnel-test.conf`. libsasl2 reads its config once per process, so every test shares this one.
struct SASLFixture: Sendable {
    static let appName = "mailtunnel-test"
    static let realm = "example.org"
    static let user = "alice"
    static let password = "s3cret pass+word"
    let directory: String

    static let shared: Result<SASLFixture, FixtureError> = make()

    struct FixtureError: Error, CustomStringConvertible { let description: String }

    private static func make() -> Result<SASLFixture, FixtureError> {
        let directory = NSTemporaryDirectory() + "mailtunnel-sasl-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let db = directory + "/sasldb2"
            let status = try run("/usr/sbin/saslpasswd2", ["-c", "-p", "-f", db, "-u", realm, user], stdin: password)
            guard status == 0 else { return .failure(FixtureError(description: "saslpasswd2 exited \(status)")) }
            let conf = "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: \(db)\nmech_list: PLAIN LOGIN CRAM-MD5\n"
            try conf.write(toFile: directory + "/\(appName).conf", atomically: true, encoding: .utf8)
            try SASLLibrary.initialize(appName: appName, configDirectory: directory)
        } catch {
            return .failure(FixtureError(description: "\(error)"))
        }
        return .success(SASLFixture(directory: directory))
    }

    static func run(_ tool: String, _ arguments: [String], stdin: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    static func server(identity: String? = nil) throws -> SASLServer {
        _ = try shared.get()
        return try SASLServer(service: "smtp", serverFQDN: "mx.example.org", realm: realm,
                              tls: SASLServer.TLSFacts(strength: 256, externalIdentity: identity))
    }
}

/// HMAC-MD5 via `openssl dgst`, so the test does not trust the code under test for the expected value.
func hmacMD5Hex(key: String, message: [UInt8]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = ["dgst", "-md5", "-hmac", key, "-r"]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(Data(message))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
}

@Suite(.serialized) struct SASLServerTests {
    let plain = Array("\0\(SASLFixture.user)\0\(SASLFixture.password)".utf8)

    @Test func listsConfiguredMechanisms() throws {
        let server = try SASLFixture.server()
        #expect(Set(server.mechanisms()) == ["PLAIN", "LOGIN", "CRAM-MD5"])
        #expect(server.mechanisms().count == 3)
    }

    // libsasl2 qualifies the name with the realm given to sasl_server_new; that is what reaches XCLIENT LOGIN.
    @Test func plainSucceeds() throws {
        let server = try SASLFixture.server()
        #expect(server.start(mechanism: "PLAIN", initialResponse: plain) == .success(user: "alice@example.org"))
        #expect(server.username == "alice@example.org")
    }

    @Test func plainWithoutInitialResponseGetsEmptyChallenge() throws {
        let server = try SASLFixture.server()
        #expect(server.start(mechanism: "PLAIN", initialResponse: nil) == .challenge([]))
        #expect(server.step(response: plain) == .success(user: "alice@example.org"))
    }

    @Test func plainWrongPasswordFails() throws {
        let server = try SASLFixture.server()
        let wrong = Array("\0alice\0not-it".utf8)
        #expect(server.start(mechanism: "PLAIN", initialResponse: wrong) == .failure(.invalidCredentials))
        #expect(server.lastErrorDetail?.contains("not-it") == false)   // the password is not echoed back
        #expect(server.username == nil)
    }

    @Test func plainUnknownUserFails() throws {
        let server = try SASLFixture.server()
        let result = server.start(mechanism: "PLAIN", initialResponse: Array("\0mallory\0\(SASLFixture.password)".utf8))
        #expect(result == .failure(.invalidCredentials))
    }

    @Test func plainMalformedIsACredentialFailure() throws {
        let server = try SASLFixture.server()
        #expect(server.start(mechanism: "PLAIN", initialResponse: Array("alice".utf8)) == .failure(.invalidCredentials))
    }

    @Test func loginTakesTwoSteps() throws {
        let server = try SASLFixture.server()
        #expect(server.start(mechanism: "LOGIN", initialResponse: nil) == .challenge(Array("Username:".utf8)))
        #expect(server.step(response: Array("alice".utf8)) == .challenge(Array("Password:".utf8)))
        #expect(server.step(response: Array(SASLFixture.password.utf8)) == .success(user: "alice@example.org"))
    }

    @Test func loginWrongPassword() throws {
        let server = try SASLFixture.server()
        #expect(server.start(mechanism: "LOGIN", initialResponse: Array("alice".utf8)) == .challenge(Array("Password:".utf8)))
        #expect(server.step(response: Array("guess".utf8)) == .failure(.invalidCredentials))
    }

    @Test func cramMD5() throws {
        let server = try SASLFixture.server()
        guard case .challenge(let challenge) = server.start(mechanism: "CRAM-MD5", initialResponse: nil) else {
            Issue.record("CRAM-MD5 must start with a challenge"); return
        }
        #expect(challenge.first == UInt8(ascii: "<") && challenge.last == UInt8(ascii: ">"))
        let digest = try hmacMD5Hex(key: SASLFixture.password, message: challenge)
        #expect(digest.count == 32)
        #expect(server.step(response: Array("alice \(digest)".utf8)) == .success(user: "alice@example.org"))
    }

    @Test func cramMD5WrongDigest() throws {
        let server = try SASLFixture.server()
        guard case .challenge(let challenge) = server.start(mechanism: "CRAM-MD5", initialResponse: nil) else {
            Issue.record("CRAM-MD5 must start with a challenge"); return
        }
        let digest = try hmacMD5Hex(key: "wrong", message: challenge)
        #expect(server.step(response: Array("alice \(digest)".utf8)) == .failure(.invalidCredentials))
    }

    @Test func unknownMechanism() throws {
        let server = try SASLFixture.server()
        #expect(server.start(mechanism: "X-NOPE", initialResponse: nil) == .failure(.unsupportedMechanism))
        // Known to libsasl2 but excluded by mech_list.
        #expect(try SASLFixture.server().start(mechanism: "DIGEST-MD5", initialResponse: nil) == .failure(.unsupportedMechanism))
    }

    @Test func secondInitializationWithOtherValuesIsRefused() throws {
        let fixture = try SASLFixture.shared.get()
        #expect(throws: Never.self) { try SASLLibrary.initialize(appName: SASLFixture.appName, configDirectory: fixture.directory) }
        #expect(throws: SASLError.self) { try SASLLibrary.initialize(appName: "other", configDirectory: fixture.directory) }
    }

    @Test func withoutTLSPlaintextMechanismsAreHidden() throws {
        _ = try SASLFixture.shared.get()
        let server = try SASLServer(service: "smtp", serverFQDN: "mx.example.org", realm: SASLFixture.realm, tls: nil)
        #expect(server.mechanisms() == ["CRAM-MD5"])
        #expect(server.start(mechanism: "PLAIN", initialResponse: plain) == .failure(.mechanismTooWeak))
    }
}

@Suite(.serialized) struct SASLExternalTests {
    // The EXTERNAL identity is set, but mech_list (PLAIN LOGIN CRAM-MD5) still decides what is offered.
    @Test func mechListStillRulesWithAnExternalIdentity() throws {
        let server = try SASLFixture.server(identity: "alice@example.org")
        #expect(Set(server.mechanisms()) == ["PLAIN", "LOGIN", "CRAM-MD5"])
        #expect(server.start(mechanism: "EXTERNAL", initialResponse: []) == .failure(.unsupportedMechanism))
    }
}
