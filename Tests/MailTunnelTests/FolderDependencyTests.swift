import Foundation
import Testing

/// docs/ARCHITECTURE.md, "Folders and their dependencies": a folder of Sources/MailTunnel may use the types of
/// the folders before it in `FolderLayers.order`, never of one after it. This reads the sources and fails on a
/// name declared at the top level of a later folder appearing in the code (not the comments) of an earlier one.
@Suite struct FolderDependencyTests {
    @Test func noFolderUsesAFolderAboveIt() throws {
        let folders = try FolderLayers.read()
        #expect(Set(folders.map(\.name)) == Set(FolderLayers.order), "every folder has its place in the order")
        var violations: [String] = []
        for (position, folder) in folders.enumerated() {
            for higher in folders[(position + 1)...] {
                for (file, identifiers) in folder.identifiersByFile {
                    let used = identifiers.intersection(higher.declared)
                    if !used.isEmpty { violations.append("\(folder.name)/\(file) uses \(higher.name)'s \(used.sorted())") }
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func theCheckSeesTopLevelDeclarationsOnly() {
        let declared = FolderLayers.declaredNames(in: """
            final class Connection: DeadlineHolder {
                struct Nested {}
            }
            public enum LogTarget {}
            typealias EventLoop = EpollLoop<Connection>
            func formatSeconds(_ value: Double) -> String { "" }
            extension Other {}
            """)
        #expect(declared == ["Connection", "LogTarget", "EventLoop", "formatSeconds"])
        #expect(FolderLayers.identifiers(in: "let a = Connection() // Listener\n/// Daemon\nx.y") == ["let", "a", "Connection", "x", "y"])
    }
}

private struct SourceFolder {
    var name: String
    var declared: Set<String> = []
    var identifiersByFile: [String: Set<String>] = [:]
}

enum FolderLayers {
    /// Lowest first.
    static let order = ["Config", "Net", "Observability", "Loop", "Relay", "Daemon"]

    fileprivate static func read() throws -> [SourceFolder] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/MailTunnel")
        let present = try FileManager.default.contentsOfDirectory(atPath: root.path).filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root.appendingPathComponent($0).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
        let names = order.filter(present.contains) + present.filter { !order.contains($0) }.sorted()
        return try names.map { name in
            var folder = SourceFolder(name: name)
            let directory = root.appendingPathComponent(name)
            let files = FileManager.default.enumerator(atPath: directory.path)?.compactMap { $0 as? String } ?? []
            for file in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                folder.declared.formUnion(declaredNames(in: text))
                folder.identifiersByFile[file] = Set(identifiers(in: text))
            }
            return folder
        }
    }

    private static let modifiers: Set<String> = ["public", "package", "internal", "private", "fileprivate", "final"]
    private static let declarers: Set<String> = ["class", "struct", "enum", "protocol", "actor", "typealias", "func"]

    /// Names declared at the top level (column 0) of a source file.
    static func declaredNames(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            guard let first = line.first, first.isLetter else { return nil }
            let words = identifiers(in: String(line)).drop { modifiers.contains($0) }
            guard let keyword = words.first, declarers.contains(keyword) else { return nil }
            return words.dropFirst().first
        }
    }

    /// The identifiers of the code, comments left out.
    static func identifiers(in text: String) -> [String] {
        var result: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let code = line.range(of: "//").map { line[..<$0.lowerBound] } ?? line[...]
            result += code.split { !($0.isLetter || $0.isNumber || $0 == "_") }.map(String.init)
        }
        return result
    }
}
