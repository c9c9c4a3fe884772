import MailTunnelTLS

/// stunnel's four certificate-checking switches (request, require, verifyChain, verifyPeer), tracked per
/// section because `verify = N` sets several at once; the final combination becomes one native `verify`:
/// chain+require -> require, chain alone -> optional, nothing (level 0: request and ignore) -> none.
/// verifyPeer (levels 3, 4: trust only locally installed leaf certificates) and requireCert without a chain
/// check have no equivalent and are refused rather than weakened.
struct StunnelVerifySwitches: Sendable {
    var request = false, require = false, chain = false, peer = false
    /// The last line that changed them: errors and the emitted `verify` point at it.
    var lastLine: Assignment?

    mutating func setLevel(_ value: String) throws(OptionValueError) {
        guard let level = Int(value), (0...4).contains(level) else {
            throw OptionValueError("bad verify level '\(value)'; stunnel levels are 0 to 4")
        }
        request = true
        require = level >= 2
        chain = (1...3).contains(level)
        peer = level >= 3
    }

    mutating func setChain(_ value: String) throws(OptionValueError) {
        let on = try StunnelValues.yesNo(value)
        if on { request = true; require = true }
        chain = on
    }

    mutating func setPeer(_ value: String) throws(OptionValueError) {
        let on = try StunnelValues.yesNo(value)
        if on { request = true; require = true }
        peer = on
    }

    mutating func setRequire(_ value: String) throws(OptionValueError) {
        let on = try StunnelValues.yesNo(value)
        if on { request = true }
        require = on
    }

    /// The final combination as the native policy, or an error for combinations mailtunnel cannot honour.
    func policy() throws(OptionValueError) -> ClientCertificatePolicy {
        if peer {
            throw OptionValueError("verifyPeer (verify levels 3 and 4: trust only locally installed client certificates) "
                                   + "is not supported; use verify = 2 with checkHost/checkEmail to admit chosen holders")
        }
        if chain { return require ? .require : .optional }
        if require {
            throw OptionValueError("requireCert without verifyChain (a certificate demanded but never checked) is not "
                                   + "supported; add verifyChain = yes")
        }
        return .none
    }
}
