import Foundation
import Testing
@testable import MailTunnel

/// The README's option table is generated from the option table; this keeps the two from drifting apart.
@Suite struct ReadmeOptionsTableTests {
    @Test func readmeCarriesTheGeneratedTable() throws {
        let testFile = URL(fileURLWithPath: #filePath)
        let root = testFile.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let table: String = OptionDocs.markdownTable
        let found = readme.contains(table)
        if !found {
            let path = NSTemporaryDirectory() + "mailtunnel-options-table.md"
            try table.write(toFile: path, atomically: true, encoding: .utf8)
            Issue.record("README.md lacks the generated option table; the current one is in \(path)")
        }
    }
}
