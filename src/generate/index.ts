/**
 * `generate()`: writes the six source files (and `_manifest.json`) for a scale and a seed.
 *
 *   prng.ts       seeded PRNG, hashing, permutations (pure)
 *   rates.ts      the declared table of every defect class and its real count
 *   product-catalog.ts  products and categories (pure, small)
 *   customers.ts  customers: cust_info, cust_az12, loc_a101 rows (pure generators)
 *   products.ts   prd_info, px_cat_g1v2 rows (pure generators)
 *   sales.ts      sales_details rows (pure generator)
 *   rows.ts       structural defects between the generators and the writer
 *   writer.ts     the streaming writer (batches, backpressure)
 *   days.ts       daily snapshots after the base one (`generateDays`, --days)
 *
 * Same options → byte-identical files: nothing reads the clock or Math.random.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { SOURCE_CONTRACTS, type SourceName } from '../bronze/index.ts';
import { buildCatalog } from './product-catalog.ts';
import { type CustomerStats, customerRows, junkRows, planCustomers } from './customers.ts';
import { hash32, rngFor } from './prng.ts';
import { type ProductStats, prdInfoRows, pxCatRows } from './products.ts';
import { DEFAULT_STRUCTURAL_RATE, DEFECTS, DISTRIBUTIONS, type DefectName, REAL_SIZES, plannedStructural, scaledReal } from './rates.ts';
import { type FieldChoice, type RowContext, StructuralInjector, newRowContext } from './rows.ts';
import { FIRST_ORDER_DATE, LAST_ORDER_DATE, newSalesStats, planSales, salesRows } from './sales.ts';
import { BatchWriter } from './writer.ts';
import { type DayManifest, dayBase, dayFolder, planDays, writeDay } from './days.ts';

export interface GenerateOptions {
  /** Size relative to the real exports (1 ≈ 60k sales lines). */
  scale: number;
  seed: number;
  outDir: string;
  /** No structural defects and none of the rate-based classes (only what the real files show). */
  clean?: boolean;
  /** Fraction of records with a structural defect (default 0.0005). */
  structuralRate?: number;
  /** Also write `_manifest.json`. */
  manifest?: boolean;
  /** Checked between batches; generation stops with its reason when aborted. */
  signal?: AbortSignal;
}

export interface FileManifest {
  file: string;
  /** What the loader counts as records: rows + rejects (a rejected record of two lines is two). */
  records: number;
  /** Data lines (the header excluded): rows + rejects, since every row is one line. */
  physicalLines: number;
  /** Lines the loader must reject (sum of rejectReasons). */
  rejects: number;
  /** Rows the loader must put in bronze. */
  rows: number;
  rejectReasons: Record<string, number>;
  /** Legal RFC 4180 quoting (parses as normal records). */
  quoting: Record<string, number>;
  bom: boolean;
  lineEnding: 'CRLF' | 'LF';
  finalNewline: boolean;
  bytes: number;
}

export interface DefectManifest {
  file: SourceName;
  count: number;
  unit: string;
  /** Count of the real files scaled (real-basis classes), for comparison. */
  realScaled: number | null;
  basis: 'real' | 'rate';
  rule: string | readonly string[] | null;
  description: string;
  [extra: string]: unknown;
}

export interface Manifest {
  generator: string;
  formatVersion: 1;
  options: { scale: number; seed: number; clean: boolean; structuralRate: number };
  period: { firstOrderDate: string; lastOrderDate: string };
  entities: { customers: number; orders: number; salesLines: number; productKeys: number; productVersions: number; categories: number };
  files: Record<SourceName, FileManifest>;
  defects: Record<DefectName, DefectManifest>;
  distributions: Record<string, { file: SourceName; count: number; realScaled: number; description: string }>;
  notes: string[];
  /** Not written to the file (it would break byte-identity): returned to the caller only. */
  timing?: { seconds: number; salesSeconds: number; salesLinesPerSecond: number; customerFilesSeconds: number };
}

const FIELD_CHOICE: Record<SourceName, FieldChoice> = {
  cust_info: { plain: 3, comma: 3, newline: 3, doubled: 2 },
  cust_az12: { plain: 1, comma: null, newline: null, doubled: null },
  loc_a101: { plain: 1, comma: null, newline: null, doubled: null },
  prd_info: { plain: 2, comma: 2, newline: 2, doubled: 2 },
  px_cat_g1v2: { plain: 2, comma: null, newline: null, doubled: null },
  sales_details: { plain: 1, comma: null, newline: null, doubled: null },
};
/** The real exports end three files without a final newline. */
const NO_FINAL_NEWLINE: ReadonlySet<SourceName> = new Set(['cust_info', 'cust_az12', 'px_cat_g1v2']);

export const MANIFEST_FILE = '_manifest.json';

export async function generate(options: GenerateOptions): Promise<Manifest> {
  const started = performance.now();
  const { scale, seed, outDir } = options;
  const clean = options.clean === true;
  const rate = clean ? 0 : (options.structuralRate ?? DEFAULT_STRUCTURAL_RATE);
  await fs.mkdir(outDir, { recursive: true });

  const catalog = buildCatalog(scale, seed);
  const cust = planCustomers(scale, seed, rate);
  const sales = planSales(scale, seed, rate, cust.customers, catalog);

  // file-level structure: one file with a BOM, another with LF line endings
  const names = SOURCE_CONTRACTS.map((c) => c.name);
  const fileRng = rngFor(seed, 'files');
  const bomFile = clean ? null : names[fileRng.int(names.length)]!;
  const lfCandidates = names.filter((n) => n !== bomFile);
  const lfFile = clean ? null : lfCandidates[fileRng.int(lfCandidates.length)]!;

  const custStats: CustomerStats = { accentedNames: 0, crmGenderBlank: 0, maritalBlank: 0, nasPrefixed: 0, duplicatedIds: 0, supersededRows: 0, paddedRows: 0 };
  const prodStats: ProductStats = { endBeforeStart: 0, costMissing: 0, categoryUnknown: 0, lineBlank: 0 };
  const salesStats = newSalesStats();
  const versions = catalog.products.reduce((a, p) => a + p.versions.length, 0);

  const units: Record<SourceName, { units: number; text: boolean }> = {
    cust_info: { units: cust.custInfoRecords, text: true },
    cust_az12: { units: cust.erpRecords, text: false },
    loc_a101: { units: cust.erpRecords, text: false },
    prd_info: { units: versions, text: true },
    px_cat_g1v2: { units: catalog.categories.length, text: false },
    sales_details: { units: sales.orders, text: false },
  };
  const contracts = Object.fromEntries(SOURCE_CONTRACTS.map((c) => [c.name, c])) as Record<SourceName, (typeof SOURCE_CONTRACTS)[number]>;
  const open = (name: SourceName) => {
    const eol = name === lfFile ? '\n' : '\r\n';
    const writer = new BatchWriter(path.join(outDir, contracts[name].file), { eol, bom: name === bomFile });
    const { units: n, text } = units[name];
    const injector = new StructuralInjector(writer, FIELD_CHOICE[name], plannedStructural(rate, n, text), n, hash32(seed, 'structural', name));
    writer.header(contracts[name].header.join(','));
    return { name, writer, injector, ctx: newRowContext() };
  };
  type Output = ReturnType<typeof open>;
  const opened: Output[] = [];
  const flush = async (o: Output) => {
    if (o.writer.full) {
      options.signal?.throwIfAborted();
      await o.writer.maybeFlush();
    }
  };
  const files = {} as Record<SourceName, FileManifest>;
  const seconds: Partial<Record<SourceName, number>> = {};
  const close = async (o: Output, t0: number) => {
    const finalNewline = !NO_FINAL_NEWLINE.has(o.name);
    const bytes = await o.writer.end(finalNewline);
    const { rejects, rejectedRecords, legal } = o.injector.summary();
    const nRejects = Object.values(rejects).reduce((a, b) => a + b, 0);
    const rows = o.writer.records - rejectedRecords;
    files[o.name] = {
      file: contracts[o.name].file,
      records: rows + nRejects,
      physicalLines: o.writer.physicalLines,
      rejects: nRejects,
      rows,
      rejectReasons: rejects,
      quoting: legal,
      bom: o.name === bomFile,
      lineEnding: o.writer.eol === '\n' ? 'LF' : 'CRLF',
      finalNewline,
      bytes,
    };
    seconds[o.name] = (performance.now() - t0) / 1000;
  };
  const track = (o: Output) => {
    opened.push(o);
    return o;
  };
  try {
    // the three customer files in one pass over the customers
    let t0 = performance.now();
    const info = track(open('cust_info'));
    const az12 = track(open('cust_az12'));
    const loc = track(open('loc_a101'));
    for (let i = 0; i < cust.customers; i++) {
      const rows = customerRows(cust, i, custStats);
      for (const r of rows.info) {
        info.ctx.plain = r.plain;
        info.injector.write(r.line, info.ctx);
      }
      if (rows.az12 !== null) az12.injector.write(rows.az12, az12.ctx);
      if (rows.loc !== null) loc.injector.write(rows.loc, loc.ctx);
      if ((i & 255) === 0) {
        await flush(info);
        await flush(az12);
        await flush(loc);
      }
    }
    info.ctx.plain = false;
    for (const line of junkRows(cust)) info.injector.write(line, info.ctx);
    const customerSeconds = performance.now() - t0;
    await close(info, t0);
    await close(az12, t0);
    await close(loc, t0);
    seconds.cust_info = seconds.cust_az12 = seconds.loc_a101 = customerSeconds / 1000;
    // the others, one generator each
    const generators: [SourceName, (ctx: RowContext) => Iterable<string>][] = [
      ['prd_info', (ctx) => prdInfoRows(catalog, ctx, prodStats)],
      ['px_cat_g1v2', (ctx) => pxCatRows(catalog, ctx)],
      ['sales_details', (ctx) => salesRows(sales, ctx, salesStats)],
    ];
    for (const [name, rows] of generators) {
      t0 = performance.now();
      const o = track(open(name));
      for (const line of rows(o.ctx)) {
        o.injector.write(line, o.ctx);
        if (o.writer.full) await flush(o);
      }
      await close(o, t0);
    }
  } catch (err) {
    for (const o of opened) o.writer.destroy();
    throw err;
  }
  // keep the file order of the contracts
  const orderedFiles = Object.fromEntries(SOURCE_CONTRACTS.map((c) => [c.name, files[c.name]])) as Record<SourceName, FileManifest>;

  const c = cust.assigner.counts;
  const sc = salesStats.byClass;
  const counts: Record<DefectName, number | [number, Record<string, unknown>]> = {
    junk_customer_rows: cust.junkRows,
    duplicated_customer_ids: [custStats.supersededRows, { ids: custStats.duplicatedIds, rows: custStats.supersededRows + custStats.duplicatedIds }],
    padded_names: custStats.paddedRows,
    gender_conflict: c.gender_conflict ?? 0,
    future_birthdate: c.future_bd ?? 0,
    birthdate_too_old: c.old_bd ?? 0,
    customers_without_erp: c.no_erp ?? 0,
    country_code: [(c.cn_usa ?? 0) + (c.cn_us ?? 0) + (c.cn_de ?? 0), { USA: c.cn_usa ?? 0, US: c.cn_us ?? 0, DE: c.cn_de ?? 0 }],
    country_missing: [(c.cn_empty ?? 0) + (c.cn_ws ?? 0), { empty: c.cn_empty ?? 0, whitespace: c.cn_ws ?? 0 }],
    product_end_before_start: prodStats.endBeforeStart,
    product_cost_missing: prodStats.costMissing,
    product_category_unknown: prodStats.categoryUnknown,
    invalid_order_date: [sc.invalid_date, { zero: salesStats.invalidDateZero, shortNumber: sc.invalid_date - salesStats.invalidDateZero, inSingleLineOrder: salesStats.invalidDateInSingleLineOrder }],
    price_missing: sc.price_missing,
    price_negative: sc.price_negative,
    sales_missing: sc.sales_missing,
    sales_negative: sc.sales_negative,
    sales_zero: sc.sales_zero,
    sales_mismatch: sc.sales_mismatch,
    impossible_dates: sc.impossible_date,
    unknown_product_sales: sc.unknown_product,
    unknown_customer_sales: [sc.unknown_customer, { orders: salesStats.unknownCustomerOrders }],
    conflicting_duplicate_lines: [sc.conflict, { lines: 2 * sc.conflict }],
    exact_duplicate_lines: sc.exact_dup,
  };
  const defects = {} as Record<DefectName, DefectManifest>;
  for (const [name, def] of Object.entries(DEFECTS) as [DefectName, (typeof DEFECTS)[DefectName]][]) {
    const v = counts[name];
    const [count, extra] = Array.isArray(v) ? v : [v, {}];
    defects[name] = {
      file: def.file,
      count,
      ...extra,
      unit: def.unit,
      realScaled: def.real === null ? null : scaledReal(def.real, scale),
      basis: def.basis,
      rule: def.rule,
      description: def.description,
    };
  }
  const dist = (key: keyof typeof DISTRIBUTIONS, count: number) => ({ file: DISTRIBUTIONS[key].file, count, realScaled: scaledReal(DISTRIBUTIONS[key].real, scale), description: DISTRIBUTIONS[key].description });
  const distributions = {
    erp_gender_blank: dist('erp_gender_blank', (c.gen_empty ?? 0) + (c.gen_ws ?? 0)),
    erp_gender_code: dist('erp_gender_code', c.gen_code ?? 0),
    nas_prefixed_ids: dist('nas_prefixed_ids', custStats.nasPrefixed),
    crm_gender_blank: dist('crm_gender_blank', custStats.crmGenderBlank),
    marital_status_blank: dist('marital_status_blank', custStats.maritalBlank),
    accented_names: dist('accented_names', custStats.accentedNames),
    product_line_blank: dist('product_line_blank', prodStats.lineBlank),
    sales_quantity_above_one: { file: 'sales_details' as const, count: salesStats.quantityAboveOne, realScaled: scaledReal(11, scale), description: 'sales lines with sls_quantity 2-4' },
  };
  const totalSeconds = (performance.now() - started) / 1000;
  const manifest: Manifest = {
    generator: 'medallion-etl generate (src/generate)',
    formatVersion: 1,
    options: { scale, seed, clean, structuralRate: rate },
    period: { firstOrderDate: iso(salesStats.firstOrderDate), lastOrderDate: iso(salesStats.lastOrderDate) },
    entities: {
      customers: cust.customers,
      orders: salesStats.orders,
      salesLines: salesStats.lines,
      productKeys: catalog.products.length,
      productVersions: versions,
      categories: catalog.categories.length,
    },
    files: orderedFiles,
    defects,
    distributions,
    notes: [
      'records = rows + rejects = physicalLines: every physical line after the header is a bronze row or a rejected line.',
      'rejects: lines the loader must reject, by reason code (rejectReasons); a record with a newline inside quotes is two rejected lines (RECORD_LINE_BREAK_IN_FIELD), since no column may hold a line break.',
      'Rejected records are extra, damaged copies of a real record written right after it, so they never take a real row away: semantic counts below hold for the rows that reach bronze.',
      'An unclosed quote is alone on its line; no other quote follows within 70,000 characters in that file.',
      'defects: one defect per affected line (classes never overlap on a line); count is in `unit`; `rule` names the silver rule expected to count it.',
      `Rate-based classes (basis "rate") and structural defects are off with --clean; otherwise max(1, round(rate x population)). Real-basis classes: max(1, round(real x scale)); realScaled is that planned figure.`,
      `Sales: orders ${FIRST_ORDER_DATE}..${LAST_ORDER_DATE}, ship = order + 7 days, due = order + 12 days, sales = quantity x price on clean lines. A conflicting duplicate or an exact duplicate adds a line to its order (up to 9 lines then).`,
    ],
  };
  if (options.manifest) {
    manifest.timing = undefined;
    await fs.writeFile(path.join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  manifest.timing = { seconds: totalSeconds, salesSeconds: seconds.sales_details ?? 0, salesLinesPerSecond: salesStats.lines / (seconds.sales_details ?? totalSeconds), customerFilesSeconds: seconds.cust_info ?? 0 };
  return manifest;
}

const iso = (ymd: string) => (ymd.length === 8 ? `${ymd.slice(0, 4)}-${ymd.slice(4, 6)}-${ymd.slice(6, 8)}` : ymd);

export interface DaysResult {
  base: Manifest;
  days: DayManifest[];
}

/**
 * `generate --days N`: the base snapshot in outDir/day-00 (what `generate` writes), then day 1..N in
 * outDir/day-01.. (days.ts), each written from the day before line by line. With `manifest`, each
 * day folder gets `_manifest.json` (the day's changes). `onBase` and `onDay` hear of each snapshot once
 * it is written.
 */
export async function generateDays(
  options: GenerateOptions & { days: number },
  hooks: { onBase?: (base: Manifest, folder: string) => void; onDay?: (day: DayManifest, folder: string, seconds: number) => void } = {},
): Promise<DaysResult> {
  const { days, outDir, scale, seed } = options;
  const clean = options.clean === true;
  const rate = clean ? 0 : (options.structuralRate ?? DEFAULT_STRUCTURAL_RATE);
  const baseFolder = dayFolder(0, days);
  const manifest = await generate({ ...options, outDir: path.join(outDir, baseFolder) });
  hooks.onBase?.(manifest, baseFolder);
  const base = dayBase(scale, seed, rate, clean);
  const out: DayManifest[] = [];
  let previous = baseFolder;
  for (const plan of planDays(base, days)) {
    const t0 = performance.now();
    const folder = dayFolder(plan.day, days);
    const day = await writeDay(base, plan, path.join(outDir, previous), path.join(outDir, folder), previous, options.signal);
    if (options.manifest) await fs.writeFile(path.join(outDir, folder, MANIFEST_FILE), `${JSON.stringify(day, null, 2)}\n`);
    hooks.onDay?.(day, folder, (performance.now() - t0) / 1000);
    out.push(day);
    previous = folder;
  }
  return { base: manifest, days: out };
}

export type { DayManifest } from './days.ts';
export { REAL_SIZES, DEFAULT_STRUCTURAL_RATE };
