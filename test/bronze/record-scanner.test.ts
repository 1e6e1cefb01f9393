import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type RejectedRecord, RecordScanner, type ScannerOptions } from '../../src/bronze/record-scanner.ts';

const COLUMNS = ['a', 'b', 'c'];

/** Scans `input` in chunks of `chunkSize` bytes, the way the stream adapter does. */
function scanAll(input: string | Buffer, chunkSize = 1 << 20, maxFieldBytes = 1000, options: Partial<ScannerOptions> = {}) {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const scanner = new RecordScanner({ fieldCount: 3, columns: COLUMNS, maxFieldBytes, firstLine: 2, ...options });
  const out: Buffer[] = [];
  const rejects: RejectedRecord[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) {
    scanner.feed(bytes.subarray(i, i + chunkSize));
    out.push(scanner.takeOutput());
    rejects.push(...scanner.takeRejects());
  }
  scanner.end();
  out.push(scanner.takeOutput());
  rejects.push(...scanner.takeRejects());
  return { copy: Buffer.concat(out).toString('utf8'), rejects, scanner };
}

describe('RecordScanner', () => {
  it('forwards plain records with their line numbers, CRLF or LF, with or without a final newline', () => {
    expect(scanAll('1,x,y\r\n2, p ,q\r\n3,,z').copy).toBe('1,x,y,2\n2, p ,q,3\n3,,z,4\n');
    expect(scanAll('1,x,y\n2,p,q\n').copy).toBe('1,x,y,2\n2,p,q,3\n');
  });

  it('keeps RFC 4180 quoting as received: commas, doubled quotes, and newlines inside quotes where the column allows them', () => {
    const { copy, rejects, scanner } = scanAll('1,"a, b","say ""hi"""\r\n2,"two\r\nlines",z\r\n3,x,y\r\n', 1 << 20, 1000, { lineBreaks: [false, true, false] });
    expect(rejects).toEqual([]);
    expect(copy).toBe('1,"a, b","say ""hi""",2\n2,"two\r\nlines",z,3\n3,x,y,5\n');
    expect(scanner.records).toBe(3);
    expect(scanner.line).toBe(6);
    expect([scanner.rowLines, scanner.linesRead]).toEqual([4, 4]);
  });

  it('rejects each line of a quoted value that spans lines in a column that cannot hold a line break', () => {
    const { copy, rejects, scanner } = scanAll('1,x,y\r\n2,"two\r\nlines",z\r\n3,x,y\r\n');
    expect(rejects.map((r) => [r.line, r.reason, r.column, r.raw.toString()])).toEqual([
      [3, 'RECORD_LINE_BREAK_IN_FIELD', 2, '2,"two'],
      [4, 'RECORD_LINE_BREAK_IN_FIELD', 2, 'lines",z'],
    ]);
    expect(rejects[0]!.message).toContain('spans lines 3-4');
    expect(copy).toBe('1,x,y,2\n3,x,y,5\n');
    expect({ rows: scanner.rowsOut, rowLines: scanner.rowLines, rejected: scanner.rejected, lines: scanner.linesRead }).toEqual({ rows: 2, rowLines: 2, rejected: 2, lines: 4 });
  });

  it('costs a stray quote only its own line: the lines after it are records of their own', () => {
    // read as RFC 4180, the quote on line 2 closes on line 5 and makes one 3-field record of four lines
    const { copy, rejects, scanner } = scanAll('1,"open,y\n2,p,q\n3,r,s\n4,t",u\n5,v,w\n');
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([[2, 'RECORD_UNCLOSED_QUOTE', 2]]);
    expect(copy).toBe('2,p,q,3\n3,r,s,4\n4,"t""",u,5\n5,v,w,6\n');
    expect(scanner.rowLines + scanner.rejected).toBe(scanner.linesRead);
  });

  it('rejects a CR that does not end a line (and an LF in a CR file), with its line and column', () => {
    const { copy, rejects } = scanAll('1,x,y\n2,a\rb,c\n3,p,q\r\r\n4,"q\r",z\n5,ok,ok\n');
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([
      [3, 'RECORD_STRAY_LINE_BREAK', 2],
      [4, 'RECORD_STRAY_LINE_BREAK', 3],
      [5, 'RECORD_LINE_BREAK_IN_FIELD', 2],
    ]);
    expect(rejects[0]!.message).toContain('carriage return (CR, 0x0D)');
    expect(copy).toBe('1,x,y,2\n5,ok,ok,6\n');
    const cr = scanAll('1,x,y\r2,a\nb,c\r3,"two\rlines",z\r4,p,q', 1 << 20, 1000, { terminator: 'CR', lineBreaks: [false, true, false] });
    expect(cr.rejects.map((r) => [r.line, r.reason, r.column])).toEqual([[3, 'RECORD_STRAY_LINE_BREAK', 2]]);
    expect(cr.copy).toBe('1,x,y,2\n3,"two\rlines",z,4\n4,p,q,6\n');
    expect(cr.scanner.linesRead).toBe(5);
  });

  it('forwards a line that starts with the end-of-data marker with its line number after it, so COPY never sees it alone', () => {
    const { copy, rejects } = scanAll('\\.\n\\.,b,c\n2,p,q\n');
    expect(rejects.map((r) => [r.line, r.reason])).toEqual([[2, 'RECORD_FIELD_COUNT']]);
    expect(copy).toBe('\\.,b,c,3\n2,p,q,4\n');
  });

  it('rejects a line over the size limit as soon as it passes it, holding no more than a record, and keeps a 64 KiB prefix, its length and sha256', () => {
    const line = Buffer.alloc(3_000_000, 'x');
    const input = Buffer.concat([Buffer.from('1,a,b\r\n'), line, Buffer.from('\r\n2,c,d\r\n')]);
    for (const chunkSize of [65536, 4095]) {
      const scanner = new RecordScanner({ fieldCount: 3, columns: COLUMNS, maxFieldBytes: 100, firstLine: 2 });
      let held = 0;
      let out = '';
      const rejects: RejectedRecord[] = [];
      for (let i = 0; i < input.length; i += chunkSize) {
        scanner.feed(input.subarray(i, i + chunkSize));
        held = Math.max(held, scanner.heldBytes);
        out += scanner.takeOutput().toString();
        rejects.push(...scanner.takeRejects());
      }
      scanner.end();
      out += scanner.takeOutput().toString();
      rejects.push(...scanner.takeRejects());
      expect(held).toBeLessThan(1000);
      expect(rejects.map((r) => [r.line, r.reason, r.column, r.raw.length, r.rawLength])).toEqual([[3, 'RECORD_FIELD_TOO_LARGE', 1, 65536, 3_000_000]]);
      expect(rejects[0]!.rawSha256).toBe(createHash('sha256').update(line).digest('hex'));
      expect(rejects[0]!.message).toContain('limit of 100 bytes (--max-field-bytes)');
      expect(out).toBe('1,a,b,2\n2,c,d,4\n');
    }
  });

  it('keeps a quote inside an unquoted field literally, by quoting that field for COPY', () => {
    expect(scanAll('1,Jon "JJ" Yang,y\n').copy).toBe('1,"Jon ""JJ"" Yang",y,2\n');
  });

  it('rejects a record with a missing or an extra field, and goes on', () => {
    const { copy, rejects, scanner } = scanAll('1,x\n2,p,q\n3,a,b,c\n');
    expect(copy).toBe('2,p,q,3\n');
    expect(rejects.map((r) => [r.line, r.reason, r.column, r.raw.toString()])).toEqual([
      [2, 'RECORD_FIELD_COUNT', 2, '1,x'],
      [4, 'RECORD_FIELD_COUNT', 4, '3,a,b,c'],
    ]);
    expect(rejects[0]!.message).toBe('expected 3 fields (a, b, c), got 2');
    expect(scanner.records).toBe(scanner.rowsOut + scanner.rejected);
  });

  it('rejects only the line of an unclosed quote and resumes at the next line', () => {
    const { copy, rejects } = scanAll('1,"open,y\r\n2,p,q\r\n3,"ok",z\r\n');
    expect(rejects.map((r) => [r.line, r.reason])).toEqual([[2, 'RECORD_UNCLOSED_QUOTE']]);
    expect(rejects[0]!.raw.toString()).toBe('1,"open,y');
    expect(copy).toBe('2,p,q,3\n3,"ok",z,4\n');
  });

  it('rejects an unclosed quote at the end of the file', () => {
    const { copy, rejects } = scanAll('1,x,y\n2,"never closed,z');
    expect(copy).toBe('1,x,y,2\n');
    expect(rejects.map((r) => [r.line, r.reason])).toEqual([[3, 'RECORD_UNCLOSED_QUOTE']]);
  });

  it('rejects a closing quote followed by other characters', () => {
    const { copy, rejects } = scanAll('1,"ab"c,y\n2,p,q\n');
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([[2, 'RECORD_INVALID_QUOTE', 2]]);
    expect(copy).toBe('2,p,q,3\n');
  });

  it('rejects invalid UTF-8 and NUL bytes, naming the column', () => {
    const bad = Buffer.concat([Buffer.from('1,ok,y\n2,b'), Buffer.from([0xc3, 0x28]), Buffer.from(',z\n3,x,\0\n4,é,ü\n')]);
    const { copy, rejects } = scanAll(bad);
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([
      [3, 'RECORD_INVALID_UTF8', 2],
      [4, 'RECORD_NUL_BYTE', 3],
    ]);
    expect(copy).toBe('1,ok,y,2\n4,é,ü,5\n');
  });

  it('rejects a field over the size limit, quoted or not', () => {
    const long = 'x'.repeat(50);
    const { copy, rejects } = scanAll(`1,${long},y\n2,"${long}",z\n3,p,q\n`, 7, 40);
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([
      [2, 'RECORD_FIELD_TOO_LARGE', 2],
      [3, 'RECORD_FIELD_TOO_LARGE', 2],
    ]);
    expect(copy).toBe('3,p,q,4\n');
  });

  it('skips blank lines and counts them apart from records', () => {
    const { copy, scanner } = scanAll('1,x,y\r\n\r\n2,p,q\r\n\r\n');
    expect(copy).toBe('1,x,y,2\n2,p,q,4\n');
    expect(scanner.blankLines).toBe(2);
    expect(scanner.records).toBe(2);
  });

  it('gives the same result whatever the chunk boundaries', () => {
    const input = Buffer.from('1,"a\r\nb",c\r\n2,x\r\n3,"q""q",ünï\r\n4,"open,y\r\n5,p,q\r\n6,"x"y,z\r\n7,a,b', 'utf8');
    const whole = scanAll(input);
    for (const size of [1, 2, 3, 5, 8, 13]) {
      const chunked = scanAll(input, size);
      expect(chunked.copy).toBe(whole.copy);
      expect(chunked.rejects.map((r) => [r.line, r.reason])).toEqual(whole.rejects.map((r) => [r.line, r.reason]));
    }
    expect(whole.scanner.records).toBe(8);
    expect(whole.rejects.map((r) => r.reason)).toEqual(['RECORD_LINE_BREAK_IN_FIELD', 'RECORD_LINE_BREAK_IN_FIELD', 'RECORD_FIELD_COUNT', 'RECORD_UNCLOSED_QUOTE', 'RECORD_INVALID_QUOTE']);
  });

  it('finds every defect wherever it falls around the fast path\'s 4 KB windows, in any chunking', () => {
    // Records of plain bytes take a faster loop (no quote, NUL or non-ASCII byte to look for); a
    // record that is not plain must still be seen as such whether it starts before, on or after a
    // window's edge (4096 bytes) or a chunk's.
    const defects: { bytes: Buffer; reason: string | null }[] = [
      { bytes: Buffer.from('1,Björn,x'), reason: null },
      { bytes: Buffer.from('1,"q,q",x'), reason: null },
      { bytes: Buffer.from('1,"two\r\nlines",x'), reason: null },
      { bytes: Buffer.from('1,x'), reason: 'RECORD_FIELD_COUNT' },
      { bytes: Buffer.from('1,a\rb,x'), reason: 'RECORD_STRAY_LINE_BREAK' },
      { bytes: Buffer.from('1,a\0b,x'), reason: 'RECORD_NUL_BYTE' },
      { bytes: Buffer.from([0x31, 0x2c, 0xff, 0x2c, 0x78]), reason: 'RECORD_INVALID_UTF8' },
      { bytes: Buffer.from(`1,${'w'.repeat(1001)},x`), reason: 'RECORD_FIELD_TOO_LARGE' },
    ];
    for (const defect of defects) {
      for (const start of [4089, 4095, 4096, 4097, 4103, 8190, 8192]) {
        const records: Buffer[] = [];
        let offset = 0;
        const add = (b: Buffer) => {
          records.push(b);
          offset += b.length + 2;
        };
        while (offset + 40 < start) add(Buffer.from(`${records.length},abcdefgh,ijklm`));
        add(Buffer.from(`pad,${'p'.repeat(start - offset - 8)},q`)); // ends right before `start`
        expect(offset).toBe(start);
        add(defect.bytes);
        for (let k = 0; k < 300; k++) add(Buffer.from(`${k},after,${k}`));
        const input = Buffer.concat(records.flatMap((r) => [r, Buffer.from('\r\n')]));
        const defectLine = records.length - 300 + 1; // first line is 2
        const extraLines = defect.bytes.includes(0x0a) ? 1 : 0;
        const expected = records
          .map((r, j) => ({ r, line: j + 2 + (j > defectLine - 2 ? extraLines : 0), isDefect: j === defectLine - 2 }))
          .filter((x) => !(x.isDefect && defect.reason))
          .map((x) => `${x.r.toString('utf8')},${x.line}\n`)
          .join('');
        for (const chunk of [1 << 20, 4097, 1000]) {
          // the second column may hold a line break here, so that the two-line record is a row
          const { copy, rejects, scanner } = scanAll(input, chunk, 1000, { lineBreaks: [false, true, false] });
          expect(rejects.map((r) => [r.line, r.reason])).toEqual(defect.reason ? [[defectLine, defect.reason]] : []);
          expect(copy).toBe(expected);
          expect(scanner.records).toBe(records.length);
        }
      }
    }
  });
});
