#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import MailTunnel

/// A connected pair of non-blocking stream sockets, closed when the test ends.
private final class SocketPair {
    let local: Int32
    var remote: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
        precondition(rc == 0, "socketpair failed")
        local = fds[0]
        remote = fds[1]
    }

    func closeRemote() {
        close(remote)
        remote = -1
    }

    deinit {
        close(local)
        if remote >= 0 { close(remote) }
    }
}

private func readiness(_ epoll: Epoll, of fd: Int32) throws -> Readiness? {
    try epoll.wait(timeoutMilliseconds: 0).first { $0.fd == fd }?.readiness
}

@Suite struct EpollTests {
    @Test func newSocketIsReportedWritableButNotReadable() throws {
        let epoll = try Epoll()
        let pair = SocketPair()
        try epoll.add(pair.local, .inputOutputEdgeTriggered)
        #expect(try readiness(epoll, of: pair.local) == Readiness(readable: false, writable: true))
    }

    @Test func incomingBytesAreReportedReadableOncePerEdge() throws {
        let epoll = try Epoll()
        let pair = SocketPair()
        try epoll.add(pair.local, .inputOutputEdgeTriggered)
        _ = try epoll.wait(timeoutMilliseconds: 0)
        var byte: UInt8 = 42
        #expect(write(pair.remote, &byte, 1) == 1)
        #expect(try readiness(epoll, of: pair.local)?.readable == true)
        // Edge-triggered: nothing new happened, so nothing is reported although the byte is still unread.
        #expect(try epoll.wait(timeoutMilliseconds: 0).isEmpty)
    }

    @Test func peerHangUpIsReportedReadable() throws {
        let epoll = try Epoll()
        let pair = SocketPair()
        try epoll.add(pair.local, .inputOutputEdgeTriggered)
        _ = try epoll.wait(timeoutMilliseconds: 0)
        pair.closeRemote()
        #expect(try readiness(epoll, of: pair.local)?.readable == true)
    }

    @Test func deletedDescriptorIsNoLongerReported() throws {
        let epoll = try Epoll()
        let pair = SocketPair()
        try epoll.add(pair.local, .inputOutputEdgeTriggered)
        try epoll.delete(pair.local)
        var byte: UInt8 = 1
        #expect(write(pair.remote, &byte, 1) == 1)
        #expect(try epoll.wait(timeoutMilliseconds: 0).isEmpty)
    }

    @Test func registrationFailuresAreThrownNotIgnored() throws {
        let epoll = try Epoll()
        let pair = SocketPair()
        let badAdd = #expect(throws: NetError.self) { try epoll.add(-1, .inputOutputEdgeTriggered) }
        #expect(badAdd?.operation.hasPrefix("epoll_ctl add") == true)
        // Deleting what was never added is an error too (ENOENT), reported to the caller.
        let badDelete = #expect(throws: NetError.self) { try epoll.delete(pair.local) }
        #expect(badDelete?.operation.hasPrefix("epoll_ctl delete") == true)
        try epoll.add(pair.local, .inputOutputEdgeTriggered)
        // Adding twice (EEXIST) as well.
        #expect(throws: NetError.self) { try epoll.add(pair.local, .inputOutputEdgeTriggered) }
    }

    @Test func waitFailuresAreThrownNotFatal() throws {
        // epoll_wait refuses room for zero events (EINVAL): the error reaches the caller, which logs it and goes on.
        let epoll = try Epoll(capacity: 0)
        let failure = #expect(throws: NetError.self) { _ = try epoll.wait(timeoutMilliseconds: 0) }
        #expect(failure?.operation == "epoll_wait")
    }

    @Test func wakeEventIsLevelTriggeredUntilDrained() throws {
        let epoll = try Epoll()
        let wake = try WakeEvent()
        try epoll.add(wake.fd, .input)
        #expect(try epoll.wait(timeoutMilliseconds: 0).isEmpty)
        wake.signal()
        wake.signal()
        #expect(try readiness(epoll, of: wake.fd)?.readable == true)
        #expect(try readiness(epoll, of: wake.fd)?.readable == true)
        wake.drain()
        #expect(try epoll.wait(timeoutMilliseconds: 0).isEmpty)
    }

    @Test func sendToAVanishedPeerIsEPIPENotSIGPIPE() {
        let pair = SocketPair()
        pair.closeRemote()
        let bytes: [UInt8] = [1, 2, 3]
        // Without MSG_NOSIGNAL this would kill the test process (SIGPIPE's default action).
        let sent = bytes.withUnsafeBytes { Sockets.sendWithoutSignal(pair.local, $0) }
        #expect(sent == -1)
        #expect(errno == EPIPE)
    }
}
