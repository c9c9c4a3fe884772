import Foundation
import Testing
@testable import MailTunnel

/// The committed mailtunnel.conf(5) and shell completions are generated from the option table (like the README
/// table); these keep the committed copies in step. Regenerate with `mailtunnel --print-man-conf` and
/// `mailtunnel --print-completion bash|zsh` (the failure message says where the current text was written).
@Suite struct PackagingDocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func expectCommitted(_ relativePath: String, equals generated: String, flag: String) throws {
        let committed = try String(contentsOf: Self.root.appendingPathComponent(relativePath), encoding: .utf8)
        if committed != generated {
            let path = NSTemporaryDirectory() + (relativePath.split(separator: "/").last.map(String.init) ?? "generated")
            try generated.write(toFile: path, atomically: true, encoding: .utf8)
            Issue.record("\(relativePath) is not what `mailtunnel \(flag)` prints now; the current text is in \(path)")
        }
    }

    @Test func confManPageIsTheGeneratedOne() throws {
        try expectCommitted("packaging/man/mailtunnel.conf.5", equals: ConfManPage.text, flag: "--print-man-conf")
    }

    @Test func confManPageListsEveryKeyAndNoOther() {
        // Each entry starts `\fBkey\fR = \fISYNTAX\fR`, with `-` written `\-`.
        let documented = ConfManPage.text.split(separator: "\n")
            .filter { $0.hasPrefix("\\fB") && $0.contains("\\fR = \\fI") }
            .map { String($0.dropFirst(3)).components(separatedBy: "\\fR")[0].replacingOccurrences(of: "\\-", with: "-") }
        #expect(documented == OptionTable.options.map(\.name))
    }

    @Test func completionsAreTheGeneratedOnes() throws {
        try expectCommitted("packaging/completions/mailtunnel.bash", equals: ShellCompletions.bash,
                            flag: "--print-completion bash")
        try expectCommitted("packaging/completions/_mailtunnel", equals: ShellCompletions.zsh,
                            flag: "--print-completion zsh")
    }

    @Test func helpHasOneUsageBlockAndNoRequiredDefault() {
        let help = OptionDocs.helpText
        #expect(help.components(separatedBy: "usage:").count == 2)
        #expect(!help.contains("(default: (required))"))
        #expect(!help.contains("default: required"))
        #expect(help.contains("(required)"))
        for hidden in CommandFlag.allCases where hidden.isHidden { #expect(!help.contains("--\(hidden.rawValue)")) }
    }
}
