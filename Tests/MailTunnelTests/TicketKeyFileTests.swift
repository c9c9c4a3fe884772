import Testing
@testable import MailTunnel
import MailTunnelTLS

/// The ticket-key file parser: one base64 key of 80 bytes per line, the first encrypts; bad lines are errors
/// naming the file and line.
@Suite struct TicketKeyFileTests {
    let first = TicketKey(bytes: Array(0..<80))!
    let second = TicketKey(bytes: Array(100..<180))!

    @Test func keysComeInFileOrderSkippingBlankLinesAndComments() throws {
        let text = "# rotated by cron\n\(first.base64)\n\n  \(second.base64)  \r\n"
        let keys = try TicketKeyFile.parse(text, file: "/etc/k")
        #expect(keys == [first, second])
        #expect(keys[0].name == Array(0..<16))
    }

    @Test func newLineIsAFreshKey() throws {
        let line = TicketKeyFile.newLine()
        let keys = try TicketKeyFile.parse(line + "\n", file: "k")
        #expect(keys.count == 1)
        #expect(keys[0].base64 == line)
        #expect(TicketKeyFile.newLine() != line)
    }

    @Test func badBase64AndWrongLengthNameFileAndLine() {
        let text = "\(first.base64)\nnot*base64\nQUJD\n"
        #expect(throws: ConfigErrors([
            ConfigError(ConfigLocation(file: "/etc/k", line: 2), key: "ticket-key-file",
                        "not base64; each line is one key, as `mailtunnel --new-ticket-key` prints it"),
            ConfigError(ConfigLocation(file: "/etc/k", line: 3), key: "ticket-key-file",
                        "decodes to 3 bytes; a ticket key is 80 (16 name, 32 HMAC, 32 AES)"),
        ])) { try TicketKeyFile.parse(text, file: "/etc/k") }
    }

    @Test func a48ByteKeyIsRefused() {
        let short = TicketKey(bytes: Array(0..<80))!.base64.prefix(64)   // 48 bytes, nginx's AES-128 size
        #expect(throws: ConfigErrors.self) { try TicketKeyFile.parse(String(short), file: "k") }
    }

    @Test func aRepeatedKeyNameIsRefused() {
        var twin = first.bytes
        twin[40] ^= 0xFF
        let text = first.base64 + "\n" + TicketKey(bytes: twin)!.base64 + "\n"
        #expect(throws: ConfigErrors([ConfigError(ConfigLocation(file: "k", line: 2), key: "ticket-key-file",
                                                  "repeats the key name of line 1; every key needs its own name")])) {
            try TicketKeyFile.parse(text, file: "k")
        }
    }

    @Test func aFileWithoutKeysIsRefused() {
        #expect(throws: ConfigErrors.self) { try TicketKeyFile.parse("# nothing yet\n\n", file: "k") }
    }

    @Test func newTicketKeyFlagChoosesItsMode() throws {
        #expect(try RunConfig.load(arguments: ["--new-ticket-key"]).mode == .newTicketKey)
    }
}
