import Testing
@testable import MailTunnel

@Suite struct SocketActivationTests {
    private func activation(_ names: [String?]) -> SocketActivation {
        SocketActivation(sockets: names.enumerated().map { .init(fd: Int32(3 + $0.offset), name: $0.element) })
    }

    @Test func namedSocketGoesToItsListenerEvenWhenAlone() {
        #expect(activation(["pop3s"]).assign(listenerNames: ["imaps", "pop3s"]) == [nil, 3])
    }

    @Test func unnamedSocketsGoByPosition() {
        #expect(activation([nil, nil]).assign(listenerNames: ["a", "b", "c"]) == [3, 4, nil])
    }

    @Test func namesFirstThenSpareSocketsInOrder() {
        #expect(activation(["b", "unknown"]).assign(listenerNames: ["a", "b"]) == [4, 3])
    }

    @Test func aSocketNamedForAnotherListenerIsNeverTakenByPosition() {
        #expect(activation(["b"]).assign(listenerNames: ["a", "b", "c"]) == [nil, 3, nil])
    }
}
