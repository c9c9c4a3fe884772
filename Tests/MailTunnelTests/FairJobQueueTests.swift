import Testing
@testable import MailTunnel

/// The SASL pool's scheduling: one running job per client, clients in turn, a bound per client.
@Suite struct FairJobQueueTests {
    private func queue(perKey: Int = 16, total: Int = 100) -> FairJobQueue<String> {
        FairJobQueue(perKeyLimit: perKey, totalLimit: total)
    }

    @Test func oneRunningJobPerClient() {
        var q = queue()
        let first = q.enqueue("a1", key: "A"), second = q.enqueue("a2", key: "A")
        #expect(first == .queued(becameReady: true))
        #expect(second == .queued(becameReady: false))
        let running = q.next()
        #expect(running?.job == "a1")
        let meanwhile = q.next()
        #expect(meanwhile == nil, "A's second job must wait while its first runs, even with workers free")
        let readyAgain = q.finished(key: "A")
        #expect(readyAgain)
        let next = q.next()
        #expect(next?.job == "a2")
    }

    @Test func clientsTakeTurns() {
        var q = queue()
        for job in ["a1", "a2", "a3"] { _ = q.enqueue(job, key: "A") }
        _ = q.enqueue("b1", key: "B")
        _ = q.enqueue("c1", key: "C")
        _ = q.enqueue("c2", key: "C")
        // One worker: each job finishes before the next is taken.
        var order: [String] = []
        while let (key, job) = q.next() {
            order.append(job)
            _ = q.finished(key: key)
        }
        #expect(order == ["a1", "b1", "c1", "a2", "c2", "a3"])
        #expect(q.count == 0)
    }

    @Test func aFloodingClientDoesNotDelayANewcomerBeyondOneTurn() {
        var q = queue()
        for i in 0..<10 { _ = q.enqueue("a\(i)", key: "A") }
        let first = q.next()          // worker 1 runs A's first job
        #expect(first?.job == "a0")
        _ = q.enqueue("b", key: "B")
        let second = q.next()         // worker 2
        #expect(second?.job == "b", "B runs at once: A's other jobs wait for A's own turn")
    }

    @Test func perClientLimitCountsRunningAndWaiting() {
        var q = queue(perKey: 3)
        var admissions = [q.enqueue("a1", key: "A")]
        _ = q.next()
        admissions += [q.enqueue("a2", key: "A"), q.enqueue("a3", key: "A"), q.enqueue("a4", key: "A")]
        #expect(admissions.map { $0 == .refused } == [false, false, false, true])
        #expect(q.filed(key: "A") == 3)
        let other = q.enqueue("b1", key: "B")
        #expect(other != .refused, "the limit is per client")
        _ = q.finished(key: "A")
        let again = q.enqueue("a4", key: "A")
        #expect(again != .refused)
    }

    @Test func totalLimit() {
        var q = queue(perKey: 10, total: 4)
        let admissions = (0..<5).map { q.enqueue("j\($0)", key: "K\($0)") }
        #expect(admissions.map { $0 == .refused } == [false, false, false, false, true])
    }

    @Test func readyRingStaysCompactUnderChurn() {
        var q = queue()
        for round in 0..<1_000 {
            _ = q.enqueue("x\(round)", key: "K\(round % 7)")
            if let (key, _) = q.next() { _ = q.finished(key: key) }
        }
        while let (key, _) = q.next() { _ = q.finished(key: key) }
        #expect(q.count == 0)
    }
}
