/// "did you mean `idle-timeout`?" for a mistyped key or flag: the nearest name by edit distance, when it is near
/// enough to be a slip of the keyboard rather than a different word.
enum KeySuggestion {
    /// The candidate nearest to `written` (case-insensitive), or nil when none is within the typo bound.
    /// Ties go to the earlier candidate (the option table's order).
    static func nearest(to written: String, among candidates: [String]) -> String? {
        let typed = Array(written.lowercased().unicodeScalars)
        guard !typed.isEmpty else { return nil }
        // One slip in a short word, two in a longer one, three in the longest keys (`max-connections-per-ip`).
        let bound = typed.count <= 4 ? 1 : typed.count <= 12 ? 2 : 3
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(typed, Array(candidate.lowercased().unicodeScalars))
            if distance <= bound, distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        return best?.name
    }

    /// Levenshtein distance counting a swap of two neighbours as one edit (`idel` for `idle`).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], before[j - 2] + 1)
                }
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}
