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

/// The pid file an init script or monitor reads; written after binding, removed on exit.
enum PidFile {
    static func write(_ path: String) throws(NetError) {
        let text = "\(getpid())\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .errno("pid-file \(path)") }
        defer { close(fd) }
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
    }

    static func remove(_ path: String) {
        unlink(path)
    }
}
