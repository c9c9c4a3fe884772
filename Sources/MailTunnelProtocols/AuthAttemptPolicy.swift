/// Limits AUTH attempts across connections (one client address, many parallel sessions).
///
/// The SMTP auth gate asks before every step that could check a credential, and reports the outcome as soon
/// as it is known, so a limit cannot be outrun by opening connections in parallel. Called from whatever
/// thread runs the dialogue (SASL steps run on worker threads), hence `Sendable`.
public protocol AuthAttemptPolicy: Sendable {
    /// Reserves one attempt. false: the client is over its limit and its credentials must not be checked.
    /// Every `true` is followed by exactly one `attemptEnded`, before the gate returns to its caller.
    func mayAttempt() -> Bool
    /// Ends the reserved attempt; `failed`: credentials were checked and refused (or the response was garbage).
    func attemptEnded(failed: Bool)
}
