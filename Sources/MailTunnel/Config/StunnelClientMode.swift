/// stunnel's `client = yes` services: the same keys mean checks on the *server's* certificate there.
/// - `verify`/`verifyChain`/`requireCert`: mailtunnel's client mode always verifies the server (against CAfile
///   or the system store), so the switches are dropped rather than turned into the client-certificate policy;
///   a stunnel service that verified nothing is stricter after translation, never weaker.
/// - `checkHost`: the name the server's certificate must carry, `verify-host` (stunnel accepts any of several;
///   mailtunnel checks one: the last, which is stricter, never weaker).
enum StunnelClientMode {
    static func adapt(_ assignments: [Assignment]) -> [Assignment] {
        let client = assignments.last { $0.key == OptionTable.client.spec.name }
        guard let client, (try? Option<Bool>.parseBool(client.value)) == true else { return assignments }
        return assignments.compactMap { assignment in
            if assignment.key == OptionTable.verify.spec.name { return nil }
            guard assignment.key == OptionTable.allowSubject.spec.name,
                  assignment.writtenKey.lowercased() == "checkhost" else { return assignment }
            var renamed = assignment
            renamed.key = OptionTable.verifyHost.spec.name
            return renamed
        }
    }
}
