import Foundation

/// A throw-away CA with a server certificate, a good client (alice), a revoked one (mallory) and a CRL, made
/// with the `openssl` command once per test process.
struct TestPKI: Sendable {
    let directory: String
    var ca: String { directory + "/ca.pem" }
    var crl: String { directory + "/crl.pem" }
    func certificate(_ name: String) -> String { directory + "/\(name).pem" }
    func key(_ name: String) -> String { directory + "/\(name).key" }

    static let shared: TestPKI = {
        let directory = NSTemporaryDirectory() + "mailtunnel-harness-pki-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        pki.make()
        return pki
    }()

    private func make() {
        let config = """
            [ca]
            default_ca = test
            [test]
            database = \(directory)/index.txt
            crlnumber = \(directory)/crlnumber
            certificate = \(directory)/ca.pem
            private_key = \(directory)/ca.key
            default_md = sha256
            default_crl_days = 2
            """
        _ = FileManager.default.createFile(atPath: directory + "/ca.cnf", contents: Data(config.utf8))
        _ = FileManager.default.createFile(atPath: directory + "/index.txt", contents: Data())
        _ = FileManager.default.createFile(atPath: directory + "/crlnumber", contents: Data("1000\n".utf8))
        openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key("ca"), "-out", ca, "-subj", "/CN=Harness CA", "-days", "2",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        for name in ["server", "alice", "mallory"] {
            openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key(name), "-out", directory + "/\(name).csr", "-subj", "/CN=\(name)"])
            openssl(["x509", "-req", "-in", directory + "/\(name).csr", "-CA", ca, "-CAkey", key("ca"),
                     "-CAcreateserial", "-out", certificate(name), "-days", "2"])
        }
        openssl(["ca", "-config", directory + "/ca.cnf", "-revoke", certificate("mallory")])
        openssl(["ca", "-config", directory + "/ca.cnf", "-gencrl", "-out", crl])
    }

    private func openssl(_ arguments: [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
    }
}
