import MailTunnelTLS

/// `--check`'s comment lines for each certificate pair: which key and OCSP file go with which certificate, the
/// names SNI matches, the key type and the end of validity (the pairing is by position, easy to get wrong).
enum CertificateReport {
    static func lines(_ listener: ListenerConfig) -> [String] {
        listener.certificatePairs.enumerated().map { index, pair in
            var text = "# pair \(index + 1)\(index == 0 ? " (default)" : ""): cert \(pair.cert), key \(pair.key)"
            if let ocsp = pair.ocspFile { text += ", ocsp-file \(ocsp)" }
            guard let bytes = try? KeyFiles.shared.read(pair.cert, followSymlinks: true).bytes,
                  let summary = CertificateSummary.read(pem: bytes, path: pair.cert) else {
                return text + ": no certificate could be read"
            }
            return text + ": \(summary.subject), names \(summary.names.joined(separator: " ")), \(summary.keyType), "
                + "not after \(summary.notAfterText)"
        }
    }
}
