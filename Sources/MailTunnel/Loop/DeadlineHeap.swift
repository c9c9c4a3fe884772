/// Something that sits in a `DeadlineHeap` at most once and remembers where, so that moving or removing it
/// costs O(log n) instead of a search.
protocol DeadlineHolder: AnyObject {
    /// The heap's key: an instant of the loop's monotonic clock.
    associatedtype Instant: Comparable = ContinuousClock.Instant
    /// Position in the heap, or -1 while not in it. Written only by the heap.
    var heapIndex: Int { get set }
}

/// A binary min-heap of objects ordered by deadline: an event loop's timers.
///
/// The key is the time at which the loop should look at the object again, not necessarily its true deadline:
/// an idle deadline moves later on every byte without touching the heap, and the loop, finding an entry due
/// early, simply moves it to the object's current deadline (lazy re-check). Each wake-up therefore costs
/// O(log n) per entry due, however many thousand idle objects are waiting.
struct DeadlineHeap<Element: DeadlineHolder> {
    private var entries: [(deadline: Element.Instant, element: Element)] = []

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// The earliest entry.
    var first: (deadline: Element.Instant, element: Element)? { entries.first }

    /// Puts `element` in the heap at `deadline`, or moves it there if it is already in.
    mutating func schedule(_ element: Element, at deadline: Element.Instant) {
        let index = element.heapIndex
        if index >= 0, index < entries.count, entries[index].element === element {
            let earlier = deadline < entries[index].deadline
            entries[index].deadline = deadline
            if earlier { siftUp(index) } else { siftDown(index) }
        } else {
            entries.append((deadline, element))
            element.heapIndex = entries.count - 1
            siftUp(entries.count - 1)
        }
    }

    /// Takes `element` out of the heap; nothing happens if it is not in.
    mutating func remove(_ element: Element) {
        let index = element.heapIndex
        guard index >= 0, index < entries.count, entries[index].element === element else { return }
        element.heapIndex = -1
        let last = entries.removeLast()
        guard index < entries.count else { return }
        entries[index] = last
        last.element.heapIndex = index
        siftUp(index)
        siftDown(last.element.heapIndex)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { return }
            let right = left + 1
            let child = right < entries.count && entries[right].deadline < entries[left].deadline ? right : left
            guard entries[child].deadline < entries[parent].deadline else { return }
            swapAt(child, parent)
            parent = child
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        entries.swapAt(a, b)
        entries[a].element.heapIndex = a
        entries[b].element.heapIndex = b
    }
}
