/**
 * Opening a source file: finding it, reading its header line, and checking that header against the
 * contract before a single row is loaded. Header problems stop the run (exit 1); they are never
 * quarantined, because a wrong header means every row would land in the wrong column.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { DataError } from '../errors.ts';
import type { SourceContract } from './contracts.ts';

export interface SourceHeader {
  /** Absolute path of the file. */
  path: string;
  /** The file name as recorded in lineage (`_source_file`). */
  fileName: string;
  bytes: number;
  hasBom: boolean;
  /** The header's line end; a CR-only file (old Mac) is read with CR as the line end. */
  lineEnding: 'CRLF' | 'LF' | 'CR' | 'none';
  /** The byte that ends the data lines: LF (with or without a CR before it) or CR. */
  terminator: 'LF' | 'CR';
  /** Header columns, normalised (trimmed, lower-case), in file order. */
  columns: string[];
  /** The raw header bytes including BOM and line terminator: data starts at this offset. */
  headerBytes: Buffer;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const HEADER_READ_LIMIT = 1 << 20;

export async function readSourceHeader(dir: string, contract: SourceContract): Promise<SourceHeader> {
  const file = path.join(dir, contract.file);
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    size = s.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new DataError('BRONZE_FILE_MISSING', `source file ${contract.file} (${contract.description}) is missing`, {
        file,
        hint: `Put ${contract.file} in ${dir}, or point --seeds at the folder that has the six files.`,
      });
    }
    throw new DataError('BRONZE_FILE_UNREADABLE', `cannot read source file: ${(err as Error).message}`, { file, hint: 'Check the path and its permissions.' });
  }
  let head: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(size, HEADER_READ_LIMIT));
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    // stat needs no read permission: a file the run's user may not read fails here (EACCES)
    throw new DataError('BRONZE_FILE_UNREADABLE', `cannot read source file: ${(err as Error).message}`, { file, hint: 'Check the path and its permissions.' }, { cause: err });
  }
  checkEncoding(file, head);
  const hasBom = head.subarray(0, 3).equals(BOM);
  const start = hasBom ? 3 : 0;
  const terminator = crOnly(head, start) ? 'CR' : 'LF';
  const nl = head.indexOf(terminator === 'CR' ? 13 : 10, start);
  if (nl < 0 && size > HEADER_READ_LIMIT) {
    throw new DataError('BRONZE_HEADER_MISSING', `the first line is longer than ${HEADER_READ_LIMIT} bytes and has no line end (LF, CRLF or CR); this is not a CSV file with a header`, {
      file,
      line: 1,
      hint: `Expected a first line of ${contract.header.join(',')}; check that this is the right file.`,
    });
  }
  const lineEnd = nl < 0 ? head.length : nl;
  const contentEnd = terminator === 'LF' && lineEnd > start && head[lineEnd - 1] === 13 ? lineEnd - 1 : lineEnd;
  const headerText = head.subarray(start, contentEnd).toString('utf8');
  if (headerText.trim() === '') {
    throw new DataError('BRONZE_HEADER_MISSING', `the file has no header line; expected: ${contract.header.join(',')}`, {
      file,
      line: 1,
      hint: 'Export the file with its header row.',
    });
  }
  checkHeaderLine(file, contract, headerText, terminator);
  const [fields] = parse(headerText, { relax_quotes: true, relax_column_count: true }) as string[][];
  const columns = (fields ?? []).map((c) => c.trim().toLowerCase());
  checkHeader(file, contract, columns);
  return {
    path: file,
    fileName: contract.file,
    bytes: size,
    hasBom,
    lineEnding: nl < 0 ? 'none' : terminator === 'CR' ? 'CR' : contentEnd < lineEnd ? 'CRLF' : 'LF',
    terminator,
    columns,
    headerBytes: Buffer.from(head.subarray(0, nl < 0 ? head.length : nl + 1)),
  };
}

/**
 * A file whose first line ends with a CR alone, and that has more such CRs than LFs in its first
 * MiB, has CR-only line ends (classic Mac OS exports): it is read with CR as the line end. An LF
 * file with a stray CR in its header stays an LF file (its header then fails the contract).
 */
function crOnly(head: Buffer, start: number): boolean {
  const cr = head.indexOf(13, start);
  const lf = head.indexOf(10, start);
  if (cr < 0 || (lf >= 0 && lf < cr) || head[cr + 1] === 10) return false;
  let bareCr = 0;
  let lfs = 0;
  for (let i = start; i < head.length; i++) {
    if (head[i] === 10) lfs++;
    else if (head[i] === 13 && head[i + 1] !== 10) bareCr++;
  }
  return bareCr > lfs;
}

/** Byte order marks, and the NUL bytes that a UTF-16 or UTF-32 text has between ASCII letters. */
const ENCODINGS: { name: string; iconv: string; bom: number[]; zeros: (b: Buffer) => boolean }[] = [
  { name: 'UTF-32LE', iconv: 'UTF-32LE', bom: [0xff, 0xfe, 0, 0], zeros: (b) => b[0] !== 0 && b[1] === 0 && b[2] === 0 && b[3] === 0 },
  { name: 'UTF-32BE', iconv: 'UTF-32BE', bom: [0, 0, 0xfe, 0xff], zeros: (b) => b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] !== 0 },
  { name: 'UTF-16LE', iconv: 'UTF-16LE', bom: [0xff, 0xfe], zeros: (b) => b[0] !== 0 && b[1] === 0 && b[2] !== 0 && b[3] === 0 },
  { name: 'UTF-16BE', iconv: 'UTF-16BE', bom: [0xfe, 0xff], zeros: (b) => b[0] === 0 && b[1] !== 0 && b[2] === 0 && b[3] !== 0 },
];

/** The loader reads UTF-8 (with or without BOM) only: a UTF-16 or UTF-32 file fails with how to convert it. */
function checkEncoding(file: string, head: Buffer): void {
  for (const e of ENCODINGS) {
    const bom = head.length >= e.bom.length && e.bom.every((b, i) => head[i] === b);
    if (!bom && !(head.length >= 4 && e.zeros(head))) continue;
    const how = bom ? `byte order mark ${e.bom.map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ')}` : 'NUL bytes between the letters of its header';
    throw new DataError('BRONZE_FILE_ENCODING', `the file is encoded as ${e.name} (${how}); the loader reads UTF-8 only`, {
      file,
      line: 1,
      expected: 'UTF-8',
      found: e.name,
      hint: `Convert it, e.g. iconv -f ${e.iconv} -t UTF-8 '${path.basename(file)}' > '${path.basename(file)}.utf8' && mv '${path.basename(file)}.utf8' '${path.basename(file)}', and run again (nothing was loaded).`,
    });
  }
}

/**
 * The header is one line: a CR or LF left inside it once its line end is cut off is a stray line
 * break, as RECORD_STRAY_LINE_BREAK is in a data line. csv-parse would end the header's record there
 * and read the columns after it as nothing, so the header is refused before it is parsed.
 */
function checkHeaderLine(file: string, contract: SourceContract, headerText: string, terminator: 'LF' | 'CR'): void {
  const at = headerText.search(/[\r\n]/);
  if (at < 0) return;
  const what = headerText[at] === '\r' ? 'CR' : 'LF';
  const column = headerText.slice(0, at).split(',').length;
  throw new DataError('BRONZE_HEADER_MISMATCH', `header does not match the ${contract.name} contract: a stray ${what} inside the header line (column ${column}), in a file whose lines end with ${terminator === 'CR' ? 'CR' : 'LF or CRLF'}`, {
    file,
    line: 1,
    column,
    expected: contract.header.join(','),
    hint: `Expected the header ${contract.header.join(',')} on one line; fix the export (nothing was loaded).`,
  });
}

/**
 * A header that is not the contract's may be any first line (another file, a wide export): the
 * message names at most LISTED of its columns, each cut at NAME_CHARS characters, and counts the rest.
 */
const LISTED = 10;
const NAME_CHARS = 60;
const quoted = (name: string) => `'${name.length > NAME_CHARS ? `${name.slice(0, NAME_CHARS)}…` : name}'`;
function listed(names: string[], show: (name: string) => string): string {
  const more = names.length - LISTED;
  return `${names.slice(0, LISTED).map(show).join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

/**
 * The header must hold exactly the contract's columns (case and surrounding spaces ignored). Their
 * order may differ: COPY is given the file's column order, so a reordered export still loads right.
 */
function checkHeader(file: string, contract: SourceContract, columns: string[]): void {
  const expected = contract.header.map((h) => h.toLowerCase());
  const missing = expected.filter((c) => !columns.includes(c));
  const extra = columns.filter((c) => !expected.includes(c));
  const duplicated = columns.filter((c, i) => columns.indexOf(c) !== i);
  if (!missing.length && !extra.length && !duplicated.length) return;
  const parts: string[] = [];
  if (missing.length === 1 && extra.length === 1) {
    parts.push(`column '${missing[0]}' is named ${quoted(extra[0]!)} (column ${columns.indexOf(extra[0]!) + 1})`);
  } else {
    if (missing.length) parts.push(`missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}`);
    if (extra.length) parts.push(`unexpected column${extra.length > 1 ? 's' : ''} ${listed(extra, (m) => `${quoted(m)} (column ${columns.indexOf(m) + 1})`)}`);
  }
  if (duplicated.length) parts.push(`duplicated column${duplicated.length > 1 ? 's' : ''} ${listed(duplicated, quoted)}`);
  const firstBad = extra[0] ?? duplicated[0];
  throw new DataError('BRONZE_HEADER_MISMATCH', `header does not match the ${contract.name} contract: ${parts.join('; ')}`, {
    file,
    line: 1,
    column: firstBad ? columns.indexOf(firstBad) + 1 : undefined,
    expected: contract.header.join(','),
    found: columns.join(','),
    hint: `Expected the header ${contract.header.join(',')}; fix the export (nothing was loaded).`,
  });
}
