import Dispatch
import Foundation
import Logging
import Synchronization
import Testing
@testable import MailTunnel

/// FileWatcher: a file replaced by rename (as ACME clients do) or rewritten in place calls back; so does any
/// change inside a watched directory.
@Suite struct FileWatcherTests {
    final class Calls: Sendable {
        let count = Atomic<Int>(0)
        let signal = DispatchSemaphore(value: 0)
        func hit() {
            count.add(1, ordering: .relaxed)
            signal.signal()
        }
    }

    func withWatcher(_ paths: [String], _ body: (Calls) throws -> Void) throws {
        let queue = DispatchQueue(label: "file-watcher-test")
        let watcher = try #require(FileWatcher(queue: queue, logger: Logger(label: "test"), debounce: .milliseconds(50)))
        let calls = Calls()
        let token = queue.sync { watcher.watch(paths: paths) { calls.hit() } }
        try body(calls)
        queue.sync { watcher.cancel(token) }
    }

    @Test func renameAndRewriteCallBack() throws {
        let dir = try TempDir()
        let file = try dir.write("cert.pem", "one")
        try withWatcher([file]) { calls in
            try dir.write("unrelated.pem", "x")
            let replacement = try dir.write(".cert.pem.new", "two")
            #expect(rename(replacement, file) == 0)
            #expect(calls.signal.wait(timeout: .now() + 5) == .success, "rename into place not seen")
            try "three".write(toFile: file, atomically: false, encoding: .utf8)
            #expect(calls.signal.wait(timeout: .now() + 5) == .success, "rewrite in place not seen")
        }
    }

    @Test func anythingInAWatchedDirectoryCounts() throws {
        let dir = try TempDir()
        try withWatcher([dir.path]) { calls in
            try dir.write("5d8a1c2e.0", "hashed CA")
            #expect(calls.signal.wait(timeout: .now() + 5) == .success)
        }
    }
}
