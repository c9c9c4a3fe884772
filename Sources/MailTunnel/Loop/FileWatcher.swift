#if canImport(Glibc)
import Glibc
#endif
internal import CMailTunnelLinux
import Dispatch
import Logging

/// Calls back when watched files change, including when they are replaced by rename (as ACME clients and
/// certbot do): inotify watches the directories holding them, not the files, and an event for a watched name
/// counts. A path that is a directory counts for anything in it (ca-path). Events are debounced per subscription
/// (writers touch several files at once), so one callback follows a burst.
///
/// A directory stays watched while any subscription needs it, so re-subscribing after privileges were dropped
/// keeps the watches made as root (adding a watch needs read access to the directory).
/// Everything runs on `queue`: subscribe and cancel there; callbacks come there.
final class FileWatcher: @unchecked Sendable {
    struct Token: Hashable { fileprivate let id: Int }

    private struct Subscription {
        var files: Set<String>
        var directories: Set<String>
        var watched: Set<String>
        var onChange: () -> Void
        var pending: DispatchWorkItem?
    }

    private let queue: DispatchQueue
    private let logger: Logger
    private let debounce: DispatchTimeInterval
    private let fd: Int32
    private let source: any DispatchSourceRead
    private var directoryOfWatch: [Int32: String] = [:]
    private var watchOfDirectory: [String: (wd: Int32, users: Int)] = [:]
    private var subscriptions: [Int: Subscription] = [:]
    private var nextID = 0

    /// Nil when inotify is not available (the reason is logged); files are then reloaded on SIGHUP only.
    init?(queue: DispatchQueue, logger: Logger, debounce: DispatchTimeInterval = .milliseconds(200)) {
        let fd = mt_linux_inotify_init()
        guard fd >= 0 else {
            logger.warning("cannot watch files for changes; reload with SIGHUP after changing them",
                           metadata: ["error": "\(String(cString: strerror(errno)))"])
            return nil
        }
        self.fd = fd
        self.queue = queue
        self.logger = logger
        self.debounce = debounce
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        // Weak: an event already queued may run after the watcher is gone (a test's teardown, a stopped daemon).
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { close(fd) }
        source.resume()
    }

    deinit { source.cancel() }

    /// Watches `paths`; `onChange` runs on the queue after a burst of changes to any of them.
    func watch(paths: [String], onChange: @escaping () -> Void) -> Token {
        var subscription = Subscription(files: [], directories: [], watched: [], onChange: onChange)
        for path in paths.map(Self.absolute) {
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                subscription.directories.insert(path)
                subscription.watched.insert(path)
                continue
            }
            subscription.files.insert(path)
            subscription.watched.insert(Self.directory(of: path))
            // A symbolic link (certbot's live/ names) also changes when its target's directory does.
            if let target = realpath(path, nil) {
                let resolved = String(cString: target)
                free(target)
                subscription.files.insert(resolved)
                subscription.watched.insert(Self.directory(of: resolved))
            }
        }
        subscription.watched = subscription.watched.filter(retain)
        nextID += 1
        subscriptions[nextID] = subscription
        return Token(id: nextID)
    }

    func cancel(_ token: Token) {
        guard let subscription = subscriptions.removeValue(forKey: token.id) else { return }
        subscription.pending?.cancel()
        subscription.watched.forEach(release)
    }

    /// Adds the directory's watch or counts one more user of it; false when it cannot be watched.
    private func retain(_ directory: String) -> Bool {
        if let existing = watchOfDirectory[directory] {
            watchOfDirectory[directory] = (existing.wd, existing.users + 1)
            return true
        }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB
            | IN_DELETE_SELF | IN_MOVE_SELF)
        let wd = mt_linux_inotify_add_watch(fd, directory, mask)
        guard wd >= 0 else {
            logger.warning("cannot watch a directory for changes; reload with SIGHUP after changing files in it",
                           metadata: ["path": "\(directory)", "error": "\(String(cString: strerror(errno)))"])
            return false
        }
        watchOfDirectory[directory] = (wd, 1)
        directoryOfWatch[wd] = directory
        return true
    }

    private func release(_ directory: String) {
        guard let existing = watchOfDirectory[directory] else { return }
        if existing.users > 1 {
            watchOfDirectory[directory] = (existing.wd, existing.users - 1)
            return
        }
        watchOfDirectory[directory] = nil
        directoryOfWatch[existing.wd] = nil
        _ = inotify_rm_watch(fd, existing.wd)
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            var offset = 0
            // struct inotify_event: wd, mask, cookie, len (4 bytes each), then len bytes of NUL-padded name.
            while offset + 16 <= count {
                let wd = buffer.loadInt32(at: offset)
                let mask = UInt32(bitPattern: buffer.loadInt32(at: offset + 4))
                let length = Int(buffer.loadInt32(at: offset + 12))
                let nameBytes = buffer[(offset + 16)..<min(offset + 16 + length, count)].prefix { $0 != 0 }
                offset += 16 + length
                guard let directory = directoryOfWatch[wd] else { continue }
                if mask & UInt32(IN_IGNORED) != 0 {
                    // The directory itself went away; its watch is gone.
                    directoryOfWatch[wd] = nil
                    watchOfDirectory[directory] = nil
                    continue
                }
                changed(directory: directory, path: directory + "/" + String(decoding: nameBytes, as: UTF8.self))
            }
        }
    }

    private func changed(directory: String, path: String) {
        for (id, subscription) in subscriptions
        where subscription.files.contains(path) || subscription.directories.contains(directory) {
            subscription.pending?.cancel()
            let work = DispatchWorkItem { [weak self] in
                guard let self, let current = subscriptions[id] else { return }
                subscriptions[id]?.pending = nil
                current.onChange()
            }
            subscriptions[id]?.pending = work
            queue.asyncAfter(deadline: .now() + debounce, execute: work)
        }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (cwd == "/" ? "" : cwd) + "/" + path
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension [UInt8] {
    fileprivate func loadInt32(at offset: Int) -> Int32 {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
    }
}
