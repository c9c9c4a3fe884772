import Foundation
import Testing
@testable import MailTunnel

/// What an operator reads after a slip: the key or flag meant, and which of missing, unreadable or not UTF-8
/// stopped a file being read. (Permission denied needs a non-root process: Tests/integration/test_cli_docs.py.)
@Suite struct ConfigMistakeHintsTests {
    @Test func misspelledKeyGetsTheNearestKey() throws {
        let dir = try TempDir()
        let file = try dir.write("imaps.conf", "accept = 993\nconnect = 143\nidle-timout = 5m\nhanshake-timeout = 3s\nfrobnicate = 1\n")
        #expect(loadErrors(["--config", file]).map(\.description) == [
            "\(file):3: idle-timout: unknown key; did you mean 'idle-timeout'?",
            "\(file):4: hanshake-timeout: unknown key; did you mean 'handshake-timeout'?",
            "\(file):5: frobnicate: unknown key; see mailtunnel --help for the list of keys",
        ])
    }

    @Test func misspelledFlagGetsTheNearestFlag() {
        #expect(loadErrors(["--acept=993", "--connect", "143"]).first?.description
                == "command line: --acept: unknown option; did you mean '--accept'?")
        #expect(loadErrors(["--accept", "993", "--connect", "143", "--chek"]).map(\.description)
                == ["command line: --chek: unknown option; did you mean '--check'?"])
    }

    @Test func editDistanceCountsASwapAsOneEdit() {
        func distance(_ a: String, _ b: String) -> Int {
            KeySuggestion.editDistance(Array(a.unicodeScalars), Array(b.unicodeScalars))
        }
        #expect(distance("idle", "idel") == 1)
        #expect(distance("verify", "verify") == 0)
        #expect(distance("", "key") == 3)
        #expect(distance("ca-file", "crl-file") == 2)
        #expect(KeySuggestion.nearest(to: "user", among: ["group", "auth"]) == nil)
    }

    @Test func unreadableFileSaysWhy() throws {
        let dir = try TempDir()
        let latin1 = "\(dir.path)/latin1.conf"
        try Data(Array("accept = 993\n# caf".utf8) + [0xE9, 0x0A]).write(to: URL(fileURLWithPath: latin1))
        #expect(loadErrors(["--config", "\(dir.path)/missing.conf"]).map(\.description)
                == ["\(dir.path)/missing.conf: cannot read the file: it does not exist"])
        #expect(loadErrors(["--config", dir.path]).map(\.description)
                == ["\(dir.path): cannot read the file: it is a directory"])
        #expect(loadErrors(["--config", latin1]).map(\.description)
                == ["\(latin1): cannot read the file: it is not UTF-8 text (byte 0xE9 on line 2)"])
        #expect(loadErrors(["--stunnel-config", "\(dir.path)/missing.conf"]).map(\.description)
                == ["\(dir.path)/missing.conf: cannot read the stunnel config: it does not exist"])
    }
}
