import Testing
@testable import MailTunnel

private final class Timer: DeadlineHolder {
    typealias Instant = Double
    let name: Int
    var heapIndex = -1
    init(_ name: Int) { self.name = name }
}

/// Pops everything in order (the heap's own order is what is tested).
private func drain(_ heap: inout DeadlineHeap<Timer>) -> [(Double, Int)] {
    var out: [(Double, Int)] = []
    while let (deadline, timer) = heap.first {
        out.append((deadline, timer.name))
        heap.remove(timer)
        #expect(timer.heapIndex == -1)
    }
    return out
}

@Suite struct DeadlineHeapTests {
    @Test func earliestFirst() {
        var heap = DeadlineHeap<Timer>()
        let deadlines = [5.0, 1.0, 4.0, 2.0, 3.0]
        for (i, d) in deadlines.enumerated() { heap.schedule(Timer(i), at: d) }
        #expect(heap.count == 5)
        #expect(drain(&heap).map(\.0) == [1, 2, 3, 4, 5])
        #expect(heap.isEmpty)
    }

    @Test func reschedulingMovesTheEntryInsteadOfAddingOne() {
        var heap = DeadlineHeap<Timer>()
        let a = Timer(0), b = Timer(1), c = Timer(2)
        heap.schedule(a, at: 10)
        heap.schedule(b, at: 20)
        heap.schedule(c, at: 30)
        heap.schedule(c, at: 5)    // earlier
        #expect(heap.count == 3)
        #expect(heap.first?.element === c)
        heap.schedule(c, at: 40)   // later (an idle deadline that moved on)
        #expect(heap.count == 3)
        #expect(drain(&heap).map(\.1) == [0, 1, 2])
    }

    @Test func removingFromTheMiddleKeepsOrder() {
        var heap = DeadlineHeap<Timer>()
        let timers = (0..<20).map(Timer.init)
        for t in timers { heap.schedule(t, at: Double((t.name * 7) % 20)) }
        for t in timers where t.name % 3 == 0 { heap.remove(t) }
        heap.remove(timers[0])     // a second removal is a no-op
        let left = drain(&heap)
        #expect(left.count == 13)
        #expect(left.map(\.0) == left.map(\.0).sorted())
        #expect(Set(left.map(\.1)) == Set(timers.map(\.name).filter { $0 % 3 != 0 }))
    }

    @Test func randomOperationsMatchASortedList() {
        var rng = SystemRandomNumberGenerator()
        var heap = DeadlineHeap<Timer>()
        let timers = (0..<500).map(Timer.init)
        var model: [Int: Double] = [:]
        for _ in 0..<5_000 {
            let t = timers[Int.random(in: 0..<timers.count, using: &rng)]
            if Bool.random(using: &rng) || model[t.name] == nil {
                let d = Double.random(in: 0..<1_000, using: &rng)
                heap.schedule(t, at: d)
                model[t.name] = d
            } else {
                heap.remove(t)
                model[t.name] = nil
            }
            #expect(heap.first?.deadline == model.values.min())
        }
        let popped = drain(&heap)
        #expect(popped.map(\.0) == model.values.sorted())
        #expect(timers.allSatisfy { $0.heapIndex == -1 })
    }
}
