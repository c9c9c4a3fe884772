/// Result of one non-blocking read or write on either side of a connection.
enum IOOutcome: Equatable {
    case bytes(Int)
    case wouldBlock
    case eof
    case failed(EndReason)
}
