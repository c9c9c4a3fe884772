import Testing
@testable import MailTunnel

@Suite struct ByteQueueTests {
    @Test func emptyQueueHoldsNoStorage() {
        var queue = ByteQueue()
        #expect(queue.isEmpty)
        queue.append([1, 2, 3])
        #expect(queue.count == 3)
        queue.consume(3)
        #expect(queue.isEmpty)
        #expect(queue.capacity == 0)
    }

    @Test func partialDrainKeepsOrderAndRemainder() {
        var queue = ByteQueue()
        queue.append(Array(0..<10))
        let written = queue.drain { bytes in
            #expect(Array(bytes) == Array(0..<10))
            return 4
        }
        #expect(written == 4)
        #expect(Array(queue.bytes) == Array(4..<10))
        queue.append([10, 11])
        _ = queue.drain { bytes in
            #expect(Array(bytes) == Array(4..<12))
            return bytes.count
        }
        #expect(queue.isEmpty)
    }

    @Test func drainRespectsLimitAndBlockedWrites() {
        var queue = ByteQueue()
        queue.append([UInt8](repeating: 7, count: 100))
        let first = queue.drain(limit: 30) { bytes in
            #expect(bytes.count == 30)
            return 30
        }
        #expect(first == 30)
        let blocked = queue.drain { _ in 0 }
        #expect(blocked == 0)
        #expect(queue.count == 70)
    }

    @Test func largeConsumedPrefixIsCompacted() {
        var queue = ByteQueue()
        queue.append([UInt8](repeating: 1, count: 200_000))
        queue.consume(150_000)
        #expect(queue.count == 50_000)
        #expect(queue.bytes.startIndex == 0)
    }
}
