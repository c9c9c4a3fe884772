#if canImport(Glibc)
import Glibc
#endif

/// Gives up root after the sockets are bound and the keys are read.
enum Privileges {
    static func drop(user: String?, group: String?) throws(NetError) {
        guard user != nil || group != nil else { return }
        var uid: uid_t?
        var gid: gid_t?
        if let user {
            guard let entry = getpwnam(user) else { throw NetError(operation: "user \(user)", message: "no such user") }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
        }
        if let group {
            guard let entry = getgrnam(group) else { throw NetError(operation: "group \(group)", message: "no such group") }
            gid = entry.pointee.gr_gid
        }
        // Already that user and group (the systemd unit starts as User=mailtunnel; a migrated stunnel.conf may
        // still say setuid = mailtunnel): nothing to drop, and a process without root could not call setgroups.
        if geteuid() != 0, uid.map({ $0 == getuid() && $0 == geteuid() }) ?? true,
           gid.map({ $0 == getgid() && $0 == getegid() }) ?? true {
            return
        }
        if let gid {
            // Supplementary groups first, or root's would survive the switch: the user's own groups when only
            // `user` is given, exactly the named group otherwise.
            if let user, group == nil {
                guard initgroups(user, gid) == 0 else { throw .errno("initgroups \(user)") }
            } else {
                var groups = [gid]
                guard setgroups(1, &groups) == 0 else { throw .errno("setgroups") }
            }
            guard setgid(gid) == 0 else { throw .errno("setgid \(gid)") }
        }
        if let uid {
            guard setuid(uid) == 0 else { throw .errno("setuid \(uid)") }
            if uid != 0 && setuid(0) == 0 { throw NetError(operation: "setuid", message: "root could be regained") }
        }
    }
}

/// The pid file an init script or monitor reads; written after binding (still as root), removed on exit.
/// Its directory may be writable by others (e.g. the service user), so the path is not trusted: a symbolic
/// link there is never followed, and anything but a regular file of ours with one link is left alone and
/// the start refused, rather than overwritten.
enum PidFile {
    static func write(_ path: String) throws(NetError) {
        // O_NONBLOCK: a FIFO planted at the path must not hang the start.
        let fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if errno == ELOOP { throw NetError(operation: "pid-file \(path)", message: "is a symbolic link; refusing to follow it") }
            throw .errno("pid-file \(path)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .errno("pid-file \(path)") }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1, info.st_uid == geteuid() else {
            throw NetError(operation: "pid-file \(path)",
                           message: "is not a regular file of uid \(geteuid()) with a single link; refusing to overwrite it")
        }
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0, fchmod(fd, 0o644) == 0,
              text.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == text.count else {
            throw .errno("pid-file \(path)")
        }
    }

    static func remove(_ path: String) {
        unlink(path)
    }
}
