internal import CSASL
import MailTunnelProtocols

/// libsasl2 result codes → what the SMTP client is told (RFC 4954 section 6).
enum SASLResultMapping {
    static func failure(_ code: Int32, detail: String) -> SMTPAuthFailure {
        switch code {
        // BADPROT (a malformed client message, or a cancel), EXPIRED and DISABLED are answered like bad
        // credentials: they are the client's problem, and each must count against the failure limit
        // rather than invite endless retries as a 454 would.
        case SASL_BADAUTH, SASL_NOUSER, SASL_NOAUTHZ, SASL_BADPROT, SASL_EXPIRED, SASL_DISABLED:
            return .invalidCredentials
        case SASL_NOMECH: return .unsupportedMechanism
        case SASL_TOOWEAK, SASL_ENCRYPT: return .mechanismTooWeak
        case SASL_TRANS: return .passwordTransitionNeeded
        default: return .temporary(detail: detail)
        }
    }
}
