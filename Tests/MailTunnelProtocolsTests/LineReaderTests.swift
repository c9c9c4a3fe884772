import Testing
@testable import MailTunnelProtocols

@Suite struct LineReaderTests {
    private func lines(_ reader: inout LineReader) -> [[UInt8]] {
        var out: [[UInt8]] = []
        while case .line(let line) = reader.next() { out.append(line.raw) }
        return out
    }

    @Test func splitsCRLFLinesAndKeepsRawBytes() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("a NOOP\r\nb CAPABILITY\r\nc LOG"))
        guard case .line(let first) = reader.next() else { Issue.record("no line"); return }
        #expect(first.raw == b("a NOOP\r\n"))
        #expect(Array(first.content) == b("a NOOP"))
        #expect(first.terminatorLength == 2)
        guard case .line(let second) = reader.next() else { Issue.record("no line"); return }
        #expect(second.raw == b("b CAPABILITY\r\n"))
        #expect(reader.next() == .needMoreData)
        #expect(reader.bufferedCount == 5)
        reader.append(s("IN\r\n"))
        #expect(lines(&reader) == [b("c LOGIN\r\n")])
    }

    @Test func acceptsBareLF() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("NOOP\nQUIT\r\n"))
        guard case .line(let line) = reader.next() else { Issue.record("no line"); return }
        #expect(line.raw == b("NOOP\n"))
        #expect(line.terminatorLength == 1)
        #expect(Array(line.content) == b("NOOP"))
        #expect(lines(&reader) == [b("QUIT\r\n")])
    }

    @Test func bareCRNeverSplitsALine() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("a NOOP\rb LOGIN x y\r"))
        #expect(reader.next() == .needMoreData)
        reader.append(s("\n"))
        guard case .line(let line) = reader.next() else { Issue.record("no line"); return }
        #expect(line.raw == b("a NOOP\rb LOGIN x y\r\n"))
        #expect(Array(line.content) == b("a NOOP\rb LOGIN x y"))
    }

    @Test func emptyLines() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("\r\n\n"))
        #expect(lines(&reader) == [b("\r\n"), b("\n")])
    }

    @Test func sameLinesWhateverTheSplit() {
        let input = b("a NOOP\r\nb\rc\nlast\r\n")
        for split in 0...input.count {
            var reader = LineReader(maxLineLength: 100)
            reader.append(input[..<split])
            var got = lines(&reader)
            reader.append(input[split...])
            got += lines(&reader)
            #expect(got == [b("a NOOP\r\n"), b("b\rc\n"), b("last\r\n")], "split at \(split)")
        }
    }

    @Test func byteByByteDelivery() {
        let input = b("x LOGIN {5+}\r\n")
        var reader = LineReader(maxLineLength: 100)
        var got: [[UInt8]] = []
        for byte in input {
            reader.append([byte][...])
            got += lines(&reader)
        }
        #expect(got == [input])
    }

    @Test func limitCountsTheTerminator() {
        var reader = LineReader(maxLineLength: 8)
        reader.append(s("123456\r\n"))
        #expect(lines(&reader) == [b("123456\r\n")])
        var over = LineReader(maxLineLength: 8)
        over.append(s("1234567\r\n"))
        #expect(over.next() == .overlong)
    }

    @Test func partialLineReportedOverlongWithoutWaitingForLF() {
        var reader = LineReader(maxLineLength: 8)
        reader.append(s("1234567"))
        #expect(reader.next() == .needMoreData)
        reader.append(s("8"))
        #expect(reader.next() == .overlong)
        // Sticky: the stream cannot be resynchronised.
        reader.append(s("\r\nNOOP\r\n"))
        #expect(reader.next() == .overlong)
    }

    @Test func partialCROnlyWaitsAtTheLimitEdge() {
        var reader = LineReader(maxLineLength: 8)
        reader.append(s("123456\r"))
        #expect(reader.next() == .needMoreData)
        reader.append(s("\n"))
        #expect(lines(&reader) == [b("123456\r\n")])
    }

    @Test func limitAppliesPerLineNotPerBuffer() {
        var reader = LineReader(maxLineLength: 8)
        reader.append(s("1234\r\n1234\r\n1234\r\n1234\r\n"))
        #expect(lines(&reader).count == 4)
        #expect(reader.next() == .needMoreData)
    }

    @Test func takeAndSkipRawBytes() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("ab\r\ncdef rest\r\n"))
        #expect(reader.take(upTo: 4) == b("ab\r\n"))
        #expect(reader.skip(upTo: 5) == 5)
        #expect(lines(&reader) == [b("rest\r\n")])
        #expect(reader.skip(upTo: 10) == 0)
        #expect(reader.take(upTo: 10) == [])
    }

    @Test func takeBufferedReturnsRemainder() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("a STARTTLS\r\nb NOOP\r\nc"))
        #expect(lines(&reader).count == 2)
        #expect(reader.takeBuffered() == b("c"))
        #expect(reader.bufferedCount == 0)
    }

    @Test func discardBufferedForgetsEverything() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("a STARTTLS\r\nb NOOP\r\nc LOGIN"))
        guard case .line(let line) = reader.next() else { Issue.record("no line"); return }
        #expect(line.raw == b("a STARTTLS\r\n"))
        reader.discardBuffered()
        #expect(reader.bufferedCount == 0)
        #expect(reader.next() == .needMoreData)
        reader.append(s("d\r\n"))
        #expect(lines(&reader) == [b("d\r\n")])
    }

    @Test func perCallLimitForReadersWhoseLimitDependsOnWhatComesNext() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("12345678\r\n"))
        var copy = reader
        #expect(copy.next(maxLength: 9) == .overlong)  // 10 bytes with CRLF: over a limit of 9
        #expect(reader.next(maxLength: 10) == .line(.init(raw: b("12345678\r\n"), terminatorLength: 2)))
        reader.append(s("123456789"))
        #expect(reader.next(maxLength: 10) == .needMoreData)
        var strict = reader
        #expect(strict.next(maxLength: 9) == .overlong)  // a partial line at the limit cannot end in time
        #expect(reader.next() == .needMoreData)
    }

    @Test func bufferedIsWhatIsNotYetReturned() {
        var reader = LineReader(maxLineLength: 100)
        reader.append(s("AUTH PLAIN\r\nNOOP"))
        _ = reader.next()
        #expect(Array(reader.buffered) == b("NOOP"))
        reader.append(s("\r\n"))
        #expect(Array(reader.buffered) == b("NOOP\r\n"))
    }
}
