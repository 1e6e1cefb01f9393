/**
 * Property-based tests of the bronze load (fast-check): random valid files and random damage to
 * them (quotes, CR, LF, NUL, invalid UTF-8, huge fields inserted, deleted or replaced).
 *
 * Invariants: the scanner never throws; every physical line of the file is a blank line, a line of
 * a forwarded row or a rejected line; every forwarded row, read back as PostgreSQL reads COPY csv,
 * equals its source line decoded on its own by csv-parse; the bytes held between chunks stay under
 * the scanner's bound. Through the real loader and database: the exit code is 0 or 1 (never 3), and
 * etl.source_files and the bronze rows agree with the same independent decoding.
 *
 * CI runs a fixed seed and few runs; a longer search:
 *   FUZZ_RUNS=5000 FUZZ_DB_RUNS=300 FUZZ_SEED=$RANDOM npx vitest run test/bronze/fuzz.test.ts
 */
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordScanner } from '../../src/bronze/record-scanner.ts';
import { runCli } from '../support/cli.ts';
import { dropTarget, query, uniqueTarget } from '../support/database.ts';
import { type FixtureDir, headerOf, writeSources } from '../support/source-fixtures.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const DB_RUNS = Number(process.env.FUZZ_DB_RUNS ?? 20);
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const MAX_FIELD = 40;

type Eol = 'LF' | 'CRLF' | 'CR';
type Value = string | null;

/** Characters of the values: separators, quotes, a backslash and a dot, accents, emoji. */
const char = fc.constantFrom('a', 'b', 'Z', '0', ' ', ',', '"', '\\', '.', 'é', 'ß', '€', '😀', '-');
const value: fc.Arbitrary<Value> = fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 6, arbitrary: fc.array(char, { maxLength: 12 }).map((c) => c.join('')) });

/** RFC 4180 text of a value: empty unquoted is NULL, `""` the empty string; quoted when it must be, or by choice. */
function encode(v: Value, quoteAnyway: boolean): string {
  if (v === null) return '';
  if (v === '' || quoteAnyway || /[",]/.test(v)) return `"${v.replace(/"/g, '""')}"`;
  return v;
}

const EOL_BYTES: Record<Eol, string> = { LF: '\n', CRLF: '\r\n', CR: '\r' };

const validFile = fc
  .record({
    fieldCount: fc.integer({ min: 2, max: 5 }),
    eol: fc.constantFrom<Eol>('LF', 'CRLF', 'CR'),
    finalNewline: fc.boolean(),
    rows: fc.array(fc.tuple(fc.array(fc.tuple(value, fc.boolean()), { minLength: 5, maxLength: 5 }), fc.boolean()), { maxLength: 25 }),
  })
  .map(({ fieldCount, eol, finalNewline, rows }) => {
    // a row of NULLs only would be a blank line: its first value is the empty string instead
    const values = rows.map(([cells]) => cells.slice(0, fieldCount).map(([v], i) => (i === 0 && cells.slice(0, fieldCount).every(([x]) => x === null) ? '' : v)));
    const lines = rows.map(([cells, blankBefore], r) => {
      const text = values[r]!.map((v, i) => encode(v, cells[i]![1])).join(',');
      return blankBefore ? `${EOL_BYTES[eol]}${text}` : text;
    });
    const text = lines.join(EOL_BYTES[eol]) + (finalNewline && lines.length ? EOL_BYTES[eol] : '');
    return { fieldCount, eol, bytes: Buffer.from(text, 'utf8'), values };
  });

type Damage = { at: number; op: 'insert' | 'delete' | 'replace'; bytes: number[] };
const damage: fc.Arbitrary<Damage> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('insert', 'delete', 'replace'),
  bytes: fc.oneof(
    fc.array(fc.constantFrom(0x22, 0x0d, 0x0a, 0x00, 0xff, 0xc3, 0xe2, 0x2c, 0x5c, 0x2e, 0x78), { minLength: 1, maxLength: 3 }),
    fc.constant(Array.from({ length: MAX_FIELD * 5 }, () => 0x79)),
  ),
});

function applyDamage(bytes: Buffer, ds: Damage[]): Buffer {
  let b = bytes;
  for (const d of ds) {
    const at = b.length ? d.at % (b.length + 1) : 0;
    const insert = Buffer.from(d.op === 'delete' ? [] : d.bytes);
    const cut = d.op === 'insert' ? 0 : Math.min(d.op === 'delete' ? d.bytes.length : insert.length, b.length - at);
    b = Buffer.concat([b.subarray(0, at), insert, b.subarray(at + cut)]);
  }
  return b;
}

/** Physical lines of a file, split independently of the scanner (a CR before an LF belongs to the line end). */
function physicalLines(bytes: Buffer, eol: Eol): Buffer[] {
  const term = eol === 'CR' ? 0x0d : 0x0a;
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length ? start < bytes.length : bytes[i] === term) {
      let end = i;
      if (term === 0x0a && end > start && bytes[end - 1] === 0x0d) end--;
      lines.push(bytes.subarray(start, end));
      start = i + 1;
    }
  }
  return lines;
}

/** A record decoded on its own by csv-parse (relax_quotes: a quote inside an unquoted field is literal); unquoted empty is NULL. */
function decodeSource(line: Buffer): Value[] {
  const [fields] = parse(line, { relax_quotes: true, relax_column_count: true, record_delimiter: '\n', cast: (v, ctx) => (ctx.quoting || v !== '' ? v : null) }) as Value[][];
  return fields ?? [];
}

/** One line of COPY input read as PostgreSQL's csv format does: a quote anywhere opens a quoted section. */
function decodeCopy(line: string): Value[] {
  const fields: Value[] = [];
  let v = '';
  let quoted = false;
  let inQuote = false;
  for (let i = 0; i <= line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === undefined) throw new Error(`unterminated quote in COPY line ${JSON.stringify(line)}`);
      if (c === '"' && line[i + 1] === '"') {
        v += '"';
        i++;
      } else if (c === '"') inQuote = false;
      else v += c;
    } else if (c === undefined || c === ',') {
      fields.push(!quoted && v === '' ? null : v);
      v = '';
      quoted = false;
    } else if (c === '"') {
      inQuote = true;
      quoted = true;
    } else if (c === '\r' || c === '\n') throw new Error(`unquoted line break in COPY line ${JSON.stringify(line)}`);
    else v += c;
  }
  return fields;
}

interface ScanOutcome {
  rows: { line: number; values: Value[] }[];
  rejectedLines: number[];
  linesRead: number;
  blank: number;
  rowLines: number;
  rejected: number;
  maxHeld: number;
  partialLimit: number;
}

function scanInChunks(bytes: Buffer, fieldCount: number, eol: Eol, chunkSize: number): ScanOutcome {
  const scanner = new RecordScanner({ fieldCount, columns: [], maxFieldBytes: MAX_FIELD, firstLine: 2, terminator: eol === 'CR' ? 'CR' : 'LF' });
  let out = '';
  let maxHeld = 0;
  const rejectedLines: number[] = [];
  const take = () => {
    const copy = scanner.takeOutput();
    expect(Buffer.from(copy.toString('utf8'), 'utf8').equals(copy)).toBe(true); // valid UTF-8
    out += copy.toString('utf8');
    for (const r of scanner.takeRejects()) rejectedLines.push(r.line);
  };
  for (let i = 0; i < bytes.length; i += chunkSize) {
    scanner.feed(bytes.subarray(i, i + chunkSize));
    maxHeld = Math.max(maxHeld, scanner.heldBytes);
    take();
  }
  scanner.end();
  take();
  expect(out).not.toContain('\0');
  const rows = out === '' ? [] : out.slice(0, -1).split('\n').map((l) => {
    const fields = decodeCopy(l);
    return { line: Number(fields.at(-1)), values: fields.slice(0, -1) };
  });
  return { rows, rejectedLines, linesRead: scanner.linesRead, blank: scanner.blankLines, rowLines: scanner.rowLines, rejected: scanner.rejected, maxHeld, partialLimit: fieldCount * (MAX_FIELD + 3) + 2 };
}

/** The invariants every scan keeps, valid input or not. */
function checkAccounting(bytes: Buffer, fieldCount: number, eol: Eol, o: ScanOutcome): void {
  const lines = physicalLines(bytes, eol);
  expect(o.linesRead).toBe(lines.length);
  expect(o.blank + o.rowLines + o.rejected).toBe(lines.length);
  expect(o.rowLines).toBe(o.rows.length); // no column may hold a line break: a row is one line
  expect(new Set([...o.rows.map((r) => r.line), ...o.rejectedLines]).size).toBe(o.rows.length + o.rejectedLines.length);
  for (const row of o.rows) {
    const source = lines[row.line - 2]!;
    expect(row.values).toHaveLength(fieldCount);
    expect(row.values).toEqual(decodeSource(source));
  }
  expect(o.maxHeld).toBeLessThanOrEqual(o.partialLimit);
}

describe('bronze scanner properties', () => {
  it('loads every valid file whole and exactly, whatever the chunking', () => {
    fc.assert(
      fc.property(validFile, fc.integer({ min: 1, max: 300 }), ({ fieldCount, eol, bytes, values }, chunk) => {
        const o = scanInChunks(bytes, fieldCount, eol, chunk);
        expect(o.rejected).toBe(0);
        expect(o.rows.map((r) => r.values)).toEqual(values);
        checkAccounting(bytes, fieldCount, eol, o);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('accounts for every line of a damaged file, and forwards only rows equal to their source line', () => {
    fc.assert(
      fc.property(validFile, fc.array(damage, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 300 }), ({ fieldCount, eol, bytes }, ds, chunk) => {
        const damaged = applyDamage(bytes, ds);
        checkAccounting(damaged, fieldCount, eol, scanInChunks(damaged, fieldCount, eol, chunk));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});

describe('bronze load properties (real database)', () => {
  const target = uniqueTarget('bronze_fuzz');
  const fixtures: FixtureDir[] = [];
  afterAll(async () => {
    await dropTarget(target);
    await Promise.all(fixtures.map((f) => f.cleanup()));
  });

  it('exits 0 or 1, never 3, and bronze holds exactly the rows the file accounts for', async () => {
    await fc.assert(
      fc.asyncProperty(validFile.filter((f) => f.fieldCount === 3), fc.array(damage, { maxLength: 4 }), fc.boolean(), async ({ eol, bytes }, ds, bom) => {
        const header = Buffer.from(`${headerOf('cust_az12')}${EOL_BYTES[eol]}`);
        const body = applyDamage(bytes, ds);
        const f = await writeSources({ cust_az12: Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), header, body]) });
        fixtures.push(f);
        const r = await runCli(['load', '--seeds', f.dir, '--target', target, '--max-reject-rate', '1', '--max-field-bytes', String(MAX_FIELD), '--jobs', '1']);
        expect([0, 1], r.stderr).toContain(r.code);
        const lines = physicalLines(body, eol);
        if (r.code === 1) {
          // only a file with no row left may fail here
          expect(r.stderr).toContain('BRONZE_SOURCE_EMPTY');
          return;
        }
        const [file] = await query<{ lines: string; rows_loaded: string; rejects: string; blank_lines: string }>(
          `select lines, rows_loaded, rejects, blank_lines from ${target}_etl.source_files where run_id = (select max(run_id) from ${target}_etl.runs) and source = 'cust_az12'`,
        );
        expect(Number(file!.lines)).toBe(1 + lines.length);
        expect(Number(file!.rows_loaded) + Number(file!.rejects) + Number(file!.blank_lines)).toBe(lines.length);
        const rows = await query<{ cid: Value; bdate: Value; gen: Value; l: string }>(`select cid, bdate, gen, _line_number::text as l from ${target}_bronze.cust_az12 order by _line_number`);
        expect(rows.length).toBe(Number(file!.rows_loaded));
        for (const row of rows) expect([row.cid, row.bdate, row.gen]).toEqual(decodeSource(lines[Number(row.l) - 2]!));
        await f.cleanup();
      }),
      { numRuns: DB_RUNS, seed: SEED },
    );
  }, Math.max(120_000, DB_RUNS * 2_000));
});
