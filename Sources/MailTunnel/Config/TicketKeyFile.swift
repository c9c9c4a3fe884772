import Foundation
import MailTunnelProtocols
public import MailTunnelTLS

/// A `ticket-key-file`: one key per line, standard base64 of 80 bytes (nginx's layout: 16-byte name, 32-byte
/// HMAC-SHA256 key, 32-byte AES-256 key); the first line encrypts new tickets, every line decrypts. Blank lines
/// and `#` comments are skipped, so a rotation script may annotate its keys.
public enum TicketKeyFile {
    /// A fresh line for the file (`mailtunnel --new-ticket-key`).
    public static func newLine() -> String { TicketKey.random().base64 }

    /// The keys in file order, or every bad line as an error naming the file and line.
    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> [TicketKey] {
        var keys: [TicketKey] = []
        var errors: [ConfigError] = []
        var firstLineOfName: [[UInt8]: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let location = ConfigLocation(file: file, line: index + 1)
            func fail(_ message: String) { errors.append(ConfigError(location, key: "ticket-key-file", message)) }
            guard let bytes = Base64.decode(line.utf8) else {
                fail("not base64; each line is one key, as `mailtunnel --new-ticket-key` prints it")
                continue
            }
            guard let key = TicketKey(bytes: bytes) else {
                fail("decodes to \(bytes.count) bytes; a ticket key is \(TicketKey.length) (16 name, 32 HMAC, 32 AES)")
                continue
            }
            if let earlier = firstLineOfName[key.name] {
                fail("repeats the key name of line \(earlier); every key needs its own name")
                continue
            }
            firstLineOfName[key.name] = index + 1
            keys.append(key)
        }
        if errors.isEmpty && keys.isEmpty {
            errors.append(ConfigError(ConfigLocation(file: file, line: nil), key: "ticket-key-file",
                                      "holds no key; add a line from `mailtunnel --new-ticket-key`"))
        }
        if !errors.isEmpty { throw ConfigErrors(errors) }
        return keys
    }

    /// Reads and parses the file (a copy read before privileges were dropped serves if it is no longer readable).
    static func load(_ path: String, from location: ConfigLocation = .commandLine) throws(ConfigErrors) -> [TicketKey] {
        let contents: KeyFiles.Contents
        do {
            contents = try KeyFiles.shared.read(path, followSymlinks: true)
        } catch {
            let why = error.reasons.joined(separator: "; ")
            throw ConfigErrors([ConfigError(location, key: "ticket-key-file", "cannot read '\(path)': \(why)")])
        }
        return try parse(String(decoding: contents.bytes, as: UTF8.self), file: path)
    }
}
