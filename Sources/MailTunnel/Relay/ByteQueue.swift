/// Bytes waiting to be written to one side. Empty queues hold no storage, so idle connections cost nothing;
/// in relay mode at most one read's worth is ever queued, because the source is not read while bytes wait.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }
    /// Bytes held in memory, including consumed bytes not yet compacted away.
    var capacity: Int { storage.capacity }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        storage.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        storage.append(contentsOf: bytes)
    }

    /// Runs `body` on the unwritten bytes (at most `limit` of them) and consumes as many as it reports written.
    mutating func drain(limit: Int = .max, _ body: (UnsafeRawBufferPointer) -> Int) -> Int {
        guard !isEmpty else { return 0 }
        let start = head
        let length = min(count, limit)
        let written = storage.withUnsafeBytes { raw in
            body(UnsafeRawBufferPointer(rebasing: raw[start..<start + length]))
        }
        if written > 0 { consume(written) }
        return max(0, written)
    }

    mutating func consume(_ n: Int) {
        head += min(n, count)
        if head == storage.count {
            storage = [] // give the memory back: an idle connection keeps no buffer
            head = 0
        } else if head > 64 * 1024 && head * 2 > storage.count {
            storage.removeSubrange(0..<head)
            head = 0
        }
    }

    mutating func removeAll() {
        storage = []
        head = 0
    }

    var bytes: ArraySlice<UInt8> { storage[head...] }
}
