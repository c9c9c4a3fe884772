/// The scheduling policy of `SASLWorkerPool`, kept free of threads so that it can be tested on its own.
///
/// Jobs are filed per key (one key per client). At most one job per key runs at a time, the others of that key
/// wait behind it in order, and keys take turns (round robin): a worker that becomes free takes the first job of
/// the key that has waited longest. A client with many jobs therefore holds at most one worker, and every other
/// client's job runs after at most one job of each client ahead of it.
struct FairJobQueue<Job> {
    /// Most jobs one key may have filed (running or waiting); beyond it `enqueue` refuses.
    let perKeyLimit: Int
    /// Most jobs filed in all.
    let totalLimit: Int

    private var waiting: [String: [Job]] = [:]
    private var running: Set<String> = []
    /// Keys with a waiting job and none running, oldest first. A ring: `head` is the first live element.
    private var ready: [String] = []
    private var head = 0
    private(set) var count = 0

    init(perKeyLimit: Int, totalLimit: Int) {
        self.perKeyLimit = perKeyLimit
        self.totalLimit = totalLimit
    }

    enum Admission: Equatable {
        /// Filed; `becameReady` says a worker should be woken for it.
        case queued(becameReady: Bool)
        case refused
    }

    mutating func enqueue(_ job: Job, key: String) -> Admission {
        let filed = (waiting[key]?.count ?? 0) + (running.contains(key) ? 1 : 0)
        guard filed < perKeyLimit, count < totalLimit else { return .refused }
        count += 1
        let hadWaiting = waiting[key] != nil
        waiting[key, default: []].append(job)
        guard !hadWaiting, !running.contains(key) else { return .queued(becameReady: false) }
        ready.append(key)
        return .queued(becameReady: true)
    }

    /// The next job to run, its key now counted as running; nil if no key is ready.
    mutating func next() -> (key: String, job: Job)? {
        while head < ready.count {
            let key = ready[head]
            head += 1
            if head > 64 && head * 2 > ready.count {
                ready.removeFirst(head)
                head = 0
            }
            guard var jobs = waiting.removeValue(forKey: key), !jobs.isEmpty else { continue }
            let job = jobs.removeFirst()
            if !jobs.isEmpty { waiting[key] = jobs }
            running.insert(key)
            return (key, job)
        }
        return nil
    }

    /// The job of `key` is done. True if the key has more jobs and went to the back of the ready ring
    /// (a worker should be woken for it).
    mutating func finished(key: String) -> Bool {
        guard running.remove(key) != nil else { return false }
        count -= 1
        guard waiting[key] != nil else { return false }
        ready.append(key)
        return true
    }

    /// Jobs filed under `key`, running or waiting.
    func filed(key: String) -> Int { (waiting[key]?.count ?? 0) + (running.contains(key) ? 1 : 0) }
}
