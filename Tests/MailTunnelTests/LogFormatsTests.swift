import Foundation
import Logging
import Testing
@testable import MailTunnel

/// `log-format = json` and `log = journal` carry the same fields as the text line, and no client byte in a value
/// can end a line, add a key or start a journal field.
@Suite struct LogFormatsTests {
    static func event(_ metadata: Logger.Metadata) -> LogEvent {
        LogEvent(level: .info, message: "connection ended", metadata: metadata, source: "mailtunnel",
                 file: #fileID, function: #function, line: #line)
    }

    @Test func jsonHasTheTextFieldsInTheSameOrder() throws {
        let line = LogLine.renderJSON(Self.event(["reason": "client closed", "listener": "imaps", "user": "alice"]),
                                      handlerMetadata: [:], time: "2026-11-29T00:00:00.000Z")
        #expect(line == #"{"time":"2026-11-29T00:00:00.000Z","level":"info","message":"connection ended","#
                + #""listener":"imaps","user":"alice","reason":"client closed"}"#)
    }

    @Test func jsonValuesCannotEndTheLineOrAddKeys() throws {
        let hostile = "x\",\"user\":\"root\"}\n{\"level\":\"error\u{2028}\u{7f}\\"
        let line = LogLine.renderJSON(Self.event(["peer": "\(hostile)"]), handlerMetadata: [:], time: "t")
        #expect(!line.contains("\n") && !line.unicodeScalars.contains("\u{2028}"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        #expect(object?["peer"] == hostile)
        #expect(object?["user"] == nil)
        #expect(object?.count == 4)
    }

    @Test func journalFieldsAreBinarySafeAndNamedInUpperCase() {
        var datagram: [UInt8] = []
        JournalLogHandler.append("MAILTUNNEL_" + JournalLogHandler.fieldName("auth_failures"), "1\nPRIORITY=0",
                                 to: &datagram)
        let name = Array("MAILTUNNEL_AUTH_FAILURES\n".utf8)
        #expect(Array(datagram.prefix(name.count)) == name)
        let length = datagram[name.count..<name.count + 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(length == 12)
        #expect(Array(datagram.suffix(13)) == Array("1\nPRIORITY=0\n".utf8))
        #expect(JournalLogHandler.fieldName("backend_error") == "BACKEND_ERROR")
    }
}
