#if canImport(Glibc)
import Glibc
#endif

/// Each client costs two descriptors (client and backend); the default soft limit of 1024 would cap a
/// listener near 500 clients, so the soft limit is raised to the hard limit the administrator allows.
enum FileLimit {
    @discardableResult
    static func raiseToHardLimit() -> rlim_t {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return limit.rlim_cur
    }
}
