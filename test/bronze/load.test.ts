import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractFor, type SourceName } from '../../src/bronze/contracts.ts';
import { loadBronze } from '../../src/bronze/load.ts';
import { connect } from '../../src/db/client.ts';
import { DependencyError, InterruptedError } from '../../src/errors.ts';
import { acquireRunLock } from '../../src/runs/lock.ts';
import { ensureLedger, startRun } from '../../src/runs/ledger.ts';
import { runCli, runCliUnprivileged } from '../support/cli.ts';
import { dropTarget, query, TEST_DATABASE_URL, testConfig, uniqueTarget } from '../support/database.ts';
import { type FixtureDir, headerOf, VALID_ROWS, writeSources } from '../support/source-fixtures.ts';

const target = uniqueTarget('bronze');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const fixtures: FixtureDir[] = [];

async function sources(overrides: Parameters<typeof writeSources>[0] = {}) {
  const f = await writeSources(overrides);
  fixtures.push(f);
  return f;
}

function load(dir: string, extra: string[] = []) {
  return runCli(['load', '--seeds', dir, '--target', target, ...extra]);
}

async function rejectsOfLastRun(source: string) {
  return query<{ line_number: number; reason: string; column_number: number | null; raw_text: string; message: string; raw_length: number; raw_sha256: string; raw_bytes_length: number }>(
    `select line_number, reason, column_number, raw_text, message, raw_length, raw_sha256, length(raw_bytes) as raw_bytes_length from ${target}_etl.rejects
      where run_id = (select max(run_id) from ${target}_etl.runs) and source = $1 order by line_number`,
    [source],
  );
}

async function sourceFile(source: string) {
  const rows = await query<{ lines: number; blank_lines: number; records: number; rows_loaded: number; rejects: number; line_ending: string; encoding: string }>(
    `select lines, blank_lines, records, rows_loaded, rejects, line_ending, encoding from ${target}_etl.source_files
      where run_id = (select max(run_id) from ${target}_etl.runs) and source = $1`,
    [source],
  );
  return rows[0]!;
}

/** Every row of all six bronze tables, lineage included (the run id unless left out), as one checksum per table. */
async function allBronzeChecksums(leaveOut: '_run_id' | '' = ''): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const source of Object.keys(VALID_ROWS)) {
    const [row] = await query<{ sum: string }>(
      `select md5(coalesce(string_agg((to_jsonb(t) - $1)::text, '|' order by t._line_number), '')) as sum from ${target}_bronze.${source} t`,
      [leaveOut],
    );
    sums[source] = row!.sum;
  }
  return sums;
}

/** A sales file of `lines` valid lines: big enough to still be loading while other files finish. */
function manySalesLines(lines: number): string {
  const rows = Array.from({ length: lines }, (_, i) => `SO${i},BK-R93R-62,${11000 + (i % 3)},20101229,20110105,20110110,3578,1,3578`);
  return `${headerOf('sales_details')}\r\n${rows.join('\r\n')}`;
}

/** Loads the small valid sources and returns their checksums: what a failed load must leave. */
async function loadGoodBronze(): Promise<Record<string, string>> {
  const good = await sources();
  expect((await load(good.dir)).code).toBe(0);
  return allBronzeChecksums();
}

/** Tables a load leaves behind in the bronze schema besides the six (there must be none). */
async function leftoverTables(): Promise<string[]> {
  const rows = await query<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = $1 and table_name like '%\\_\\_loading'`, [`${target}_bronze`]);
  return rows.map((r) => r.name);
}

afterAll(async () => {
  await dropTarget(target);
  await Promise.all(fixtures.map((f) => f.cleanup()));
});

describe('bronze load', () => {
  beforeAll(async () => {
    const f = await sources();
    const r = await load(f.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('loads the six files with every value exactly as received, plus lineage', async () => {
    for (const [source, rows] of Object.entries(VALID_ROWS)) {
      const [row] = await query<{ count: number }>(`select count(*)::int as count from ${target}_bronze.${source}`);
      const count = row?.count;
      expect(count, source).toBe(rows.length);
    }
    const customers = await query(`select cst_firstname, cst_lastname, cst_marital_status, _source_file, _line_number from ${target}_bronze.cust_info order by _line_number`);
    expect(customers[0]).toEqual({ cst_firstname: ' Jon', cst_lastname: 'Yang ', cst_marital_status: 'M', _source_file: 'cust_info.csv', _line_number: 2 });
    expect(customers[1]!.cst_firstname).toBe('Eugène');
    expect(customers[2]!.cst_marital_status).toBeNull();
    const [prd] = await query(`select prd_line from ${target}_bronze.prd_info order by _line_number limit 1`);
    expect(prd!.prd_line).toBe('R ');
    expect(await sourceFile('sales_details')).toMatchObject({ records: 3, rows_loaded: 3, rejects: 0, line_ending: 'CRLF', encoding: 'UTF-8' });
  });

  it('accepts a BOM, LF endings, a final newline and RFC 4180 quoting', async () => {
    const f = await sources({
      cust_info: Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(`${headerOf('cust_info')}\n11000,AW00011000,"Jon, ""JJ""","Yang",M,M,2025-10-06\n\n11001,AW00011001,"",x,S,F,2025-10-06\n`),
      ]),
    });
    const r = await load(f.dir);
    expect(r.code).toBe(0);
    const rows = await query(`select cst_firstname, cst_lastname, _line_number from ${target}_bronze.cust_info order by _line_number`);
    expect(rows).toEqual([
      { cst_firstname: 'Jon, "JJ"', cst_lastname: 'Yang', _line_number: 2 },
      { cst_firstname: '', cst_lastname: 'x', _line_number: 4 },
    ]);
    expect(await sourceFile('cust_info')).toMatchObject({ lines: 4, blank_lines: 1, records: 2, rows_loaded: 2, rejects: 0, line_ending: 'LF', encoding: 'UTF-8 with BOM' });
  });

  it('rejects each line of a quoted value that spans lines where the contract allows no line break, and loads the lines around it', async () => {
    const f = await sources({
      cust_info: `${headerOf('cust_info')}\r\n${VALID_ROWS.cust_info[0]}\r\n11001,AW00011001,Eugène,"Multi\r\nline",S,F,2025-10-06\r\n${VALID_ROWS.cust_info[2]}\r\n`,
    });
    const r = await load(f.dir, ['--max-reject-rate', '0.9']);
    expect(r.code, r.stderr).toBe(0);
    const rejects = await rejectsOfLastRun('cust_info');
    expect(rejects.map((x) => [x.line_number, x.reason, x.column_number, x.raw_text])).toEqual([
      [3, 'RECORD_LINE_BREAK_IN_FIELD', 4, '11001,AW00011001,Eugène,"Multi'],
      [4, 'RECORD_LINE_BREAK_IN_FIELD', 4, 'line",S,F,2025-10-06'],
    ]);
    expect(rejects[0]!.message).toContain('spans lines 3-4');
    expect(await sourceFile('cust_info')).toMatchObject({ lines: 5, records: 4, rows_loaded: 2, rejects: 2 });
    const lines = await query<{ l: string }>(`select _line_number::text as l from ${target}_bronze.cust_info order by _line_number`);
    expect(lines.map((x) => x.l)).toEqual(['2', '5']);
  });

  it('loads a quoted value that spans lines where the contract allows line breaks', async () => {
    const contract = { ...contractFor('cust_info')!, lineBreakColumns: ['cst_lastname'] };
    const f = await sources({ cust_info: `${headerOf('cust_info')}\n11000,AW00011000,Jon,"Multi\nline",M,M,2025-10-06\n11001,AW00011001,Eve,"two\r\nlines, CRLF",S,F,2025-10-06\n11002,AW00011002,Ann,x,S,F,2025-10-06` });
    const config = testConfig(target);
    const [work, ledger] = [await connect(config.connection), await connect(config.connection)];
    try {
      await ensureLedger(ledger, config.schemas);
      const runId = await startRun(ledger, config.schemas, { target, command: 'test' });
      const result = await loadBronze({ client: work, ledger, schemas: config.schemas, seedsDir: f.dir, runId, maxRejectRate: 0, maxFieldBytes: 65536, contracts: [contract] });
      expect(result.files[0]).toMatchObject({ lines: 6, rowLines: 5, records: 3, rowsLoaded: 3, rejects: 0 });
    } finally {
      await Promise.all([work.end(), ledger.end()]);
    }
    const rows = await query(`select cst_lastname, _line_number from ${target}_bronze.cust_info order by _line_number`);
    expect(rows).toEqual([
      { cst_lastname: 'Multi\nline', _line_number: 2 },
      { cst_lastname: 'two\r\nlines, CRLF', _line_number: 4 },
      { cst_lastname: 'x', _line_number: 6 },
    ]);
  });

  it('costs a stray quote only its own line: the sales lines after it load', async () => {
    const lines = [
      'SO43697,BK-R93R-62,11000,20101229,20110105,20110110,3578,1,3578',
      'SO43698,"BK-R93R-62,11001,20101229,20110105,20110110,3578,1,3578',
      'SO43699,BK-R93R-62,11002,20101229,20110105,20110110,3578,1,3578',
      'SO43700,BK-R93R-62,11003,20101229,20110105,20110110,3578,1,3578',
      'SO43701,FR",11004,20101229,20110105,20110110,3578,1,3578',
      'SO43702,BK-R93R-62,11005,20101229,20110105,20110110,3578,1,3578',
    ];
    const f = await sources({ sales_details: `${headerOf('sales_details')}\r\n${lines.join('\r\n')}\r\n` });
    const r = await load(f.dir, ['--max-reject-rate', '0.5']);
    expect(r.code, r.stderr).toBe(0);
    expect((await rejectsOfLastRun('sales_details')).map((x) => [x.line_number, x.reason, x.column_number])).toEqual([[3, 'RECORD_UNCLOSED_QUOTE', 2]]);
    const rows = await query<{ n: string; k: string }>(`select sls_ord_num as n, sls_prd_key as k from ${target}_bronze.sales_details order by _line_number`);
    expect(rows.map((x) => x.n)).toEqual(['SO43697', 'SO43699', 'SO43700', 'SO43701', 'SO43702']);
    expect(rows[3]!.k).toBe('FR"');
    expect(await sourceFile('sales_details')).toMatchObject({ lines: 7, rows_loaded: 5, rejects: 1 });
  });

  it('loads a file with CR-only line endings, small or over 1 MiB', async () => {
    const small = await sources({ px_cat_g1v2: `${headerOf('px_cat_g1v2')}\r${VALID_ROWS.px_cat_g1v2.join('\r')}\r` });
    let r = await load(small.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(await query(`select id, maintenance, _line_number from ${target}_bronze.px_cat_g1v2 order by _line_number`)).toEqual([
      { id: 'CO_RF', maintenance: 'Yes', _line_number: 2 },
      { id: 'BI_RB', maintenance: 'Yes', _line_number: 3 },
    ]);
    expect(await sourceFile('px_cat_g1v2')).toMatchObject({ lines: 3, rows_loaded: 2, rejects: 0, line_ending: 'CR' });
    const big = await sources({ sales_details: manySalesLines(20_000).replace(/\r\n/g, '\r') });
    r = await load(big.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(await sourceFile('sales_details')).toMatchObject({ lines: 20_001, rows_loaded: 20_000, rejects: 0, line_ending: 'CR' });
  });

  const encodings: [string, Buffer][] = (() => {
    const text = `${headerOf('loc_a101')}\r\n${VALID_ROWS.loc_a101[0]}\r\n`;
    const le = Buffer.from(text, 'utf16le');
    const be = Buffer.from(le).swap16();
    const le32 = Buffer.alloc(text.length * 4);
    for (let i = 0; i < text.length; i++) le32.writeUInt32LE(text.charCodeAt(i), i * 4);
    const be32 = Buffer.from(le32).swap32();
    return [
      ['UTF-16LE', Buffer.concat([Buffer.from([0xff, 0xfe]), le])],
      ['UTF-16LE', le],
      ['UTF-16BE', Buffer.concat([Buffer.from([0xfe, 0xff]), be])],
      ['UTF-16BE', be],
      ['UTF-32LE', Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), le32])],
      ['UTF-32BE', be32],
    ];
  })();
  for (const [encoding, bytes] of encodings) {
    it(`stops with exit 1 naming ${encoding}${bytes[0] === 0xff || bytes[0] === 0xfe || bytes[2] === 0xfe ? ' (BOM)' : ''} and how to convert it`, async () => {
      const f = await sources({ loc_a101: bytes });
      const r = await load(f.dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('BRONZE_FILE_ENCODING');
      expect(r.stderr).toContain(`encoded as ${encoding}`);
      expect(r.stderr).toContain(`iconv -f ${encoding} -t UTF-8`);
      expect(r.stderr).toContain('loc_a101.csv');
    });
  }

  for (const [name, content] of [
    ['only a header', `${headerOf('sales_details')}\r\n`],
    ['a header without a line end', headerOf('sales_details')],
    ['only blank lines after the header', `${headerOf('sales_details')}\r\n\r\n\r\n`],
  ] as const) {
    it(`fails the run with exit 1 when a required source has ${name}, and publishes nothing`, async () => {
      const before = await loadGoodBronze();
      const f = await sources({ sales_details: content });
      const r = await load(f.dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('BRONZE_SOURCE_EMPTY');
      expect(r.stderr).toContain('sales_details.csv');
      expect(await allBronzeChecksums()).toEqual(before);
    });
  }

  it('rejects a 64 MB line over --max-field-bytes in bounded memory, keeping its first 64 KiB, length and sha256', async () => {
    const f = await sources();
    const line = Buffer.alloc(64 << 20, 'x');
    await f.write('cust_az12', Buffer.concat([Buffer.from(`${headerOf('cust_az12')}\n${VALID_ROWS.cust_az12[0]}\n`), line, Buffer.from(`\n${VALID_ROWS.cust_az12[1]}\n`)]));
    // a child process, so that its peak RSS is the load's alone
    const script = `import { main } from './src/cli/main.ts';
      const code = await main(process.argv.slice(1), { env: { DATABASE_URL: ${JSON.stringify(TEST_DATABASE_URL)}, ETL_LOG_FORMAT: 'json' } });
      process.stdout.write(JSON.stringify({ code, maxRssMb: process.resourceUsage().maxRSS / 1024 }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, 'load', '--seeds', f.dir, '--target', target, '--max-field-bytes', '1000', '--max-reject-rate', '0.5', '--jobs', '1'], { maxBuffer: 1 << 24 });
    const { code, maxRssMb } = JSON.parse(stdout.slice(stdout.lastIndexOf('{"code"'))) as { code: number; maxRssMb: number };
    expect(code).toBe(0);
    expect(maxRssMb).toBeLessThan(250);
    const rejects = await rejectsOfLastRun('cust_az12');
    expect(rejects.map((x) => [x.line_number, x.reason, x.column_number, x.raw_length, x.raw_bytes_length, x.raw_text.length])).toEqual([[3, 'RECORD_FIELD_TOO_LARGE', 1, 64 << 20, 65536, 65536]]);
    expect(rejects[0]!.raw_sha256).toBe(sha256(line));
    expect(rejects[0]!.message).toContain('limit of 1000 bytes (--max-field-bytes)');
    expect(await sourceFile('cust_az12')).toMatchObject({ lines: 4, rows_loaded: 2, rejects: 1 });
    await fs.rm(f.dir, { recursive: true, force: true });
  });


  const badCases: [string, string | Buffer, string, number, string][] = [
    ['a missing field', '11000,AW00011000,Jon,Yang,M,M', 'RECORD_FIELD_COUNT', 3, '11000,AW00011000,Jon,Yang,M,M'],
    ['an extra field', '11000,AW00011000,Jon,Yang,M,M,2025-10-06,extra', 'RECORD_FIELD_COUNT', 3, '11000,AW00011000,Jon,Yang,M,M,2025-10-06,extra'],
    ['an unclosed quote', '11000,AW00011000,"Jon,Yang,M,M,2025-10-06', 'RECORD_UNCLOSED_QUOTE', 3, '11000,AW00011000,"Jon,Yang,M,M,2025-10-06'],
    ['text after a closing quote', '11000,AW00011000,"Jon"x,Yang,M,M,2025-10-06', 'RECORD_INVALID_QUOTE', 3, '11000,AW00011000,"Jon"x,Yang,M,M,2025-10-06'],
    ['invalid UTF-8', Buffer.concat([Buffer.from('11000,AW00011000,J'), Buffer.from([0xff]), Buffer.from('n,Yang,M,M,2025-10-06')]), 'RECORD_INVALID_UTF8', 3, '11000,AW00011000,J\ufffdn,Yang,M,M,2025-10-06'],
    ['a NUL byte', '11000,AW00011000,Jon\0,Yang,M,M,2025-10-06', 'RECORD_NUL_BYTE', 3, '11000,AW00011000,Jon\u2400,Yang,M,M,2025-10-06'],
    ['a field over the size limit', `11000,AW00011000,${'J'.repeat(70_000)},Yang,M,M,2025-10-06`, 'RECORD_FIELD_TOO_LARGE', 3, `11000,AW00011000,${'J'.repeat(70_000)}`.slice(0, 65536)],
    ['a CR inside an unquoted field', '11000,AW00011000,Jon\rJJ,Yang,M,M,2025-10-06', 'RECORD_STRAY_LINE_BREAK', 3, '11000,AW00011000,Jon\rJJ,Yang,M,M,2025-10-06'],
  ];
  for (const [name, badLine, reason, line, raw] of badCases) {
    it(`rejects ${name} with ${reason}, keeps the raw text, and loses nothing`, async () => {
      const good = VALID_ROWS.cust_info;
      const content = Buffer.concat([Buffer.from(`${headerOf('cust_info')}\r\n${good[0]}\r\n`), Buffer.from(badLine), Buffer.from(`\r\n${good[1]}\r\n${good[2]}`)]);
      const f = await sources({ cust_info: content });
      const r = await load(f.dir, ['--max-reject-rate', '0.5']);
      expect(r.code, r.stderr).toBe(0);
      const rejects = await rejectsOfLastRun('cust_info');
      expect(rejects.map((x) => [x.line_number, x.reason])).toEqual([[line, reason]]);
      expect(rejects[0]!.raw_text).toBe(raw);
      const bytes = typeof badLine === 'string' ? Buffer.from(badLine) : badLine;
      expect([rejects[0]!.raw_length, rejects[0]!.raw_sha256, rejects[0]!.raw_bytes_length]).toEqual([bytes.length, sha256(bytes), Math.min(bytes.length, 65536)]);
      expect(await sourceFile('cust_info')).toMatchObject({ lines: 5, records: 4, rows_loaded: 3, rejects: 1 });
      const lines = await query<{ l: string }>(`select _line_number::text as l from ${target}_bronze.cust_info order by _line_number`);
      expect(lines.map((x) => x.l)).toEqual(['2', '4', '5']);
    });
  }

  it("carries a user's views on bronze over to the new tables, and stops cleanly on one that cannot follow", async () => {
    const mine = `${target}_mine`;
    await query(`drop schema if exists ${mine} cascade; create schema ${mine}`);
    try {
      await query(`create view ${mine}.orders as select sls_ord_num from ${target}_bronze.sales_details`);
      await query(`create view ${mine}.order_count as select count(*)::int as n from ${mine}.orders`);
      const bigger = await sources({ sales_details: manySalesLines(7) });
      const r = await load(bigger.dir);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // The views read the new load, and were not dropped.
      expect(await query(`select n from ${mine}.order_count`)).toEqual([{ n: 7 }]);
      expect(await leftoverTables()).toEqual([]);
      expect(await query(`select tablename from pg_tables where schemaname = $1 and tablename like '%\\_\\_replaced'`, [`${target}_bronze`])).toEqual([]);

      // A materialized view cannot follow without a refresh: the load stops, bronze is as it was.
      await query(`create materialized view ${mine}.snapshot as select count(*) as n from ${target}_bronze.sales_details`);
      const before = await allBronzeChecksums();
      const blocked = await load((await sources()).dir);
      expect(blocked.code).toBe(3);
      expect(blocked.stdout + blocked.stderr).toMatch(/PUBLISH_BLOCKED.*snapshot reads .*_bronze and cannot follow the new load/);
      expect(await allBronzeChecksums()).toEqual(before);
      expect(await query(`select n from ${mine}.order_count`)).toEqual([{ n: 7 }]);
    } finally {
      await query(`drop schema if exists ${mine} cascade`);
      await loadGoodBronze();
    }
  });

  it('fails the run with exit 1 when a file passes the reject threshold, and publishes nothing', async () => {
    const before = await allBronzeChecksums();
    const f = await sources({ sales_details: `${headerOf('sales_details')}\r\n${VALID_ROWS.sales_details[0]}\r\nSO1,short\r\n` });
    const r = await load(f.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BRONZE_REJECT_THRESHOLD');
    expect(r.stderr).toContain('sales_details.csv');
    expect(r.stderr).toContain('1 of 2 records rejected (50.00%)');
    expect(await allBronzeChecksums()).toEqual(before);
    const [run] = await query(`select status, exit_code, error_code from ${target}_etl.runs order by run_id desc limit 1`);
    expect(run).toEqual({ status: 'failed', exit_code: 1, error_code: 'BRONZE_REJECT_THRESHOLD' });
    // the rejected record is on record for the failed run
    expect((await rejectsOfLastRun('sales_details')).map((x) => x.reason)).toEqual(['RECORD_FIELD_COUNT']);
  });

  it('stops with exit 1 naming the file and the difference when a header does not match', async () => {
    const renamed = await sources({ prd_info: `prd_id,prd_key,prd_name,prd_cost,prd_line,prd_start_dt,prd_end_dt\r\n${VALID_ROWS.prd_info[0]}` });
    let r = await load(renamed.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BRONZE_HEADER_MISMATCH');
    expect(r.stderr).toContain('prd_info.csv:1');
    expect(r.stderr).toContain("column 'prd_nm' is named 'prd_name' (column 3)");
    const missing = await sources({ px_cat_g1v2: 'ID,CAT,SUBCAT\r\nAC_BR,Accessories,Bike Racks' });
    r = await load(missing.dir);
    expect(r.stderr).toContain("missing column 'maintenance'");
    const extra = await sources({ loc_a101: 'CID,CNTRY,REGION\r\nAW-00011000,Australia,x' });
    r = await load(extra.dir);
    expect(r.stderr).toContain("unexpected column 'region' (column 3)");
    // a first line of thousands of columns (another file, a wide export) is named in a few
    const wide = await sources({ px_cat_g1v2: `ID,CAT,SUBCAT,MAINTENANCE,${Array.from({ length: 5000 }, (_, i) => `x${i}`).join(',')},${'y'.repeat(500)}\r\n` });
    r = await load(wide.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unexpected columns 'x0' (column 5), 'x1' (column 6), ");
    expect(r.stderr).toContain("'x9' (column 14) and 4991 more. Expected the header");
    expect(r.stderr.length).toBeLessThan(2000);
    const long = await sources({ px_cat_g1v2: `ID,CAT,SUBCAT,${'m'.repeat(500)}\r\nAC_BR,Accessories,Bike Racks,Yes\r\n` });
    r = await load(long.dir);
    expect(r.stderr).toContain(`column 'maintenance' is named '${'m'.repeat(60)}…' (column 4)`);
  });

  it('stops with exit 1 when a stray CR splits the header line, whatever follows it', async () => {
    // The rows fit the columns before the CR: read as a line end, the CR would hide the extra column.
    const extra = await sources({ px_cat_g1v2: 'ID,CAT,SUBCAT,MAINTENANCE\r,REGION\nCO_RF,Components,Road Frames,Yes\n' });
    let r = await load(extra.dir);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('BRONZE_HEADER_MISMATCH');
    expect(r.stderr).toContain('px_cat_g1v2.csv:1 (column 4)');
    expect(r.stderr).toContain('a stray CR inside the header line');
    // The rows have the columns after the CR too: not one of them is a reject of the wrong count.
    const split = await sources({ loc_a101: 'CID\r,CNTRY\nAW-00011000,Australia\n' });
    r = await load(split.dir);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('BRONZE_HEADER_MISMATCH');
    expect(r.stderr).toContain('loc_a101.csv:1 (column 1)');
  });

  it('loads an unchanged file again under another --max-field-bytes, which decides its rows and rejects', async () => {
    const long = `SO43700,BK-${'R'.repeat(3000)},11000,20101229,20110105,20110110,3578,1,3578`;
    const lines = [headerOf('sales_details'), ...VALID_ROWS.sales_details, long];
    const f = await sources({ sales_details: `${lines.join('\r\n')}\r\n` });
    const loadWith = async (extra: string[]) => {
      const r = await load(f.dir, ['--max-reject-rate', '0.5', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const [row] = await query<{ n: string }>(`select count(*) as n from ${target}_bronze.sales_details`);
      const [file] = await query<{ kept_from_run: string | null; reused_lines: string | null }>(
        `select kept_from_run, reused_lines from ${target}_etl.source_files where run_id = (select max(run_id) from ${target}_etl.runs) and source = 'sales_details'`,
      );
      return { rows: Number(row!.n), rejects: (await rejectsOfLastRun('sales_details')).map((x) => x.reason), kept: file!.kept_from_run !== null, appended: file!.reused_lines !== null };
    };
    expect(await loadWith([])).toEqual({ rows: 4, rejects: [], kept: false, appended: false });
    expect(await loadWith(['--max-field-bytes', '1000'])).toEqual({ rows: 3, rejects: ['RECORD_FIELD_TOO_LARGE'], kept: false, appended: false });
    // the same file under the same limit is kept (its rejects stay recorded under the run that loaded it)
    expect(await loadWith(['--max-field-bytes', '1000'])).toEqual({ rows: 3, rejects: [], kept: true, appended: false });
    // a tail appended under another limit: the lines before it were loaded under 1000, so the file loads whole
    await f.write('sales_details', `${lines.join('\r\n')}\r\nSO43701,BK-R93R-62,11000,20101229,20110105,20110110,3578,1,3578\r\n`);
    expect(await loadWith([])).toEqual({ rows: 5, rejects: [], kept: false, appended: false });
    // and under the same limit, a tail is appended
    await f.write('sales_details', `${lines.join('\r\n')}\r\nSO43701,BK-R93R-62,11000,20101229,20110105,20110110,3578,1,3578\r\nSO43702,BK-R93R-62,11000,20101229,20110105,20110110,3578,1,3578\r\n`);
    expect(await loadWith([])).toEqual({ rows: 6, rejects: [], kept: false, appended: true });
  });

  it('accepts a header in another case, with spaces, and in another column order', async () => {
    const f = await sources({ px_cat_g1v2: ' cat ,Id,SUBCAT,maintenance\r\nComponents,CO_RF,Road Frames,Yes\r\n' });
    const r = await load(f.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(await query(`select id, cat from ${target}_bronze.px_cat_g1v2`)).toEqual([{ id: 'CO_RF', cat: 'Components' }]);
  });

  it('stops with exit 1 naming the file when a source file is missing', async () => {
    const f = await sources();
    await import('node:fs/promises').then((fs) => fs.rm(`${f.dir}/loc_a101.csv`));
    const r = await load(f.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BRONZE_FILE_MISSING');
    expect(r.stderr).toContain('loc_a101.csv');
  });

  it('stops with exit 1 naming the file when a source cannot be read', async () => {
    const f = await sources();
    const fs = await import('node:fs/promises');
    await fs.rm(`${f.dir}/cust_az12.csv`);
    await fs.mkdir(`${f.dir}/cust_az12.csv`);
    const r = await load(f.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BRONZE_FILE_UNREADABLE');
    expect(r.stderr).toContain('cust_az12.csv');
  });

  it('stops with exit 1 naming the file when this user may not read a source (mode 000)', async () => {
    const f = await sources();
    await fs.chmod(f.dir, 0o755);
    await fs.chmod(`${f.dir}/prd_info.csv`, 0o000);
    const r = await runCliUnprivileged(['load', '--seeds', f.dir, '--target', target]);
    expect(r.code, r.stderr).toBe(1);
    const last = JSON.parse(r.stderr.trim().split('\n').at(-1)!);
    expect(last).toMatchObject({ event: 'run_finished', error_code: 'BRONZE_FILE_UNREADABLE' });
    expect(last.message).toContain('prd_info.csv');
    expect(last.message).not.toContain('    at ');
  });

  it('exits 3 with a clear message when the database is unreachable', async () => {
    const f = await sources();
    const r = await runCli(['load', '--seeds', f.dir, '--target', target], { env: { DATABASE_URL: 'postgresql://nobody:secret@127.0.0.1:1/none', ETL_LOG_FORMAT: 'json' } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('DB_UNREACHABLE');
    expect(r.stderr).toContain('nobody@127.0.0.1:1/none');
    expect(r.stderr + r.stdout).not.toContain('secret');
  });

  it('exits 75 at once while another run holds the lock', async () => {
    const config = testConfig(target);
    const holder = await connect(config.connection);
    try {
      await acquireRunLock(holder, target);
      const f = await sources();
      const r = await load(f.dir);
      expect(r.code).toBe(75);
      expect(r.stdout + r.stderr).toContain('RUN_LOCKED');
    } finally {
      await holder.end();
    }
  });

  it('loads the same rows with one connection or two (--jobs), the largest file beside the others', async () => {
    // enough lines that the two connections overlap
    const f = await sources({ sales_details: manySalesLines(20_000) });
    expect((await load(f.dir, ['--jobs', '1'])).code).toBe(0);
    const one = await allBronzeChecksums('_run_id');
    expect((await load(f.dir, ['--jobs', '2'])).code).toBe(0);
    expect(await allBronzeChecksums('_run_id')).toEqual(one);
    expect((await sourceFile('sales_details')).rows_loaded).toBe(20_000);
    expect(await leftoverTables()).toEqual([]);
  });

  it('publishes nothing and leaves no loading tables when a file on the second connection fails', async () => {
    const before = await loadGoodBronze();
    // sales_details, the largest file, loads on the first connection; cust_az12 on the second
    const f = await sources({
      sales_details: manySalesLines(20_000),
      cust_az12: `${headerOf('cust_az12')}\r\n${VALID_ROWS.cust_az12[0]}\r\nonly-one-field\r\n`,
    });
    const r = await load(f.dir, ['--jobs', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('BRONZE_REJECT_THRESHOLD');
    expect(r.stderr).toContain('cust_az12.csv');
    expect(await allBronzeChecksums()).toEqual(before);
    expect(await leftoverTables()).toEqual([]);
  });

  it('exits 143 on SIGTERM while two files are loading, and changes nothing in bronze', async () => {
    const before = await loadGoodBronze();
    // sales_details is still loading on the first connection when a small file on the second is done
    // (a changed one: the unchanged ones are kept, not loaded)
    const f = await sources({ sales_details: manySalesLines(300_000), px_cat_g1v2: `${headerOf('px_cat_g1v2')}\r\nCO_RF,Components,Road Frames,No` });
    const controller = new AbortController();
    const loadedFiles = async () =>
      (await query<{ source: string }>(`select source from ${target}_etl.source_files where run_id = (select max(run_id) from ${target}_etl.runs)`)).map((r) => r.source);
    let sawSalesUnfinished = false;
    const watching = (async () => {
      for (let i = 0; i < 500 && !controller.signal.aborted; i++) {
        const done = await loadedFiles();
        if (done.length > 0 && !done.includes('sales_details')) {
          sawSalesUnfinished = true;
          controller.abort(new InterruptedError('SIGTERM'));
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const r = await runCli(['load', '--seeds', f.dir, '--target', target, '--jobs', '2'], { signal: controller.signal });
    await watching;
    expect(sawSalesUnfinished).toBe(true);
    expect(r.code).toBe(143);
    expect(r.stderr).toContain('INTERRUPTED');
    expect(await allBronzeChecksums()).toEqual(before);
    expect(await leftoverTables()).toEqual([]);
  });

  it('leaves the previous bronze tables unchanged when the connection dies mid-load', async () => {
    // A sales file large enough that COPY is still running when we kill the connection.
    await expectKillMidLoadChangesNothing({ sales_details: manySalesLines(300_000) }, 'sales_details', 'first');
  });

  it('leaves the previous bronze tables unchanged when the second connection dies mid-load', async () => {
    // sales_details (the largest file) loads on the first connection, cust_info on the second
    const customers = Array.from({ length: 60_000 }, (_, i) => `${20000 + i},AW000${20000 + i},Name${i},Last${i},M,M,2025-10-06`);
    await expectKillMidLoadChangesNothing(
      { sales_details: manySalesLines(100_000), cust_info: `${headerOf('cust_info')}\r\n${customers.join('\r\n')}` },
      'cust_info',
      'second',
    );
  });
});

/**
 * Loads `files` on two connections and kills the `victim` connection's server process as soon as
 * `source` is being copied; the load must fail with DB_CONNECTION_LOST and change nothing in bronze.
 */
async function expectKillMidLoadChangesNothing(files: Parameters<typeof writeSources>[0], source: SourceName, victim: 'first' | 'second') {
  const before = await loadGoodBronze();
  const big = await sources(files);
  const config = testConfig(target);
  const work = await connect(config.connection);
  const second = await connect(config.connection);
  const ledger = await connect(config.connection);
  const killer = await connect(config.connection);
  try {
    await ensureLedger(ledger, config.schemas);
    const runId = await startRun(ledger, config.schemas, { target, command: 'test' });
    const pid = (await (victim === 'first' ? work : second).query('select pg_backend_pid() as pid')).rows[0].pid;
    // Held until the load has failed: the load cannot swap its tables in (drop + rename wait for
    // this lock), so the kill always lands before the load could commit, however slow it is.
    await killer.query(`begin; lock table ${target}_bronze.${source} in access share mode`);
    let killing: Promise<unknown> | undefined;
    const attempt = loadBronze({
      client: work,
      parallelClients: [second],
      ledger,
      schemas: config.schemas,
      seedsDir: big.dir,
      runId,
      maxRejectRate: 0.01,
      maxFieldBytes: 65536,
      onProgress: (e) => {
        if (e.kind === 'file-progress' && e.source === source && !killing) {
          killing = killer.query('select pg_terminate_backend($1)', [pid]);
        }
      },
    });
    await expect(attempt).rejects.toBeInstanceOf(DependencyError);
    await expect(attempt).rejects.toMatchObject({ code: 'DB_CONNECTION_LOST' });
    // the kill's own answer may arrive after the load has failed: wait for it before closing
    expect(await killing).toBeTruthy();
    await killer.query('rollback');
  } finally {
    await Promise.all([work.end().catch(() => {}), second.end().catch(() => {}), ledger.end(), killer.end()]);
  }
  expect(await allBronzeChecksums()).toEqual(before);
  expect(await leftoverTables()).toEqual([]);
}
