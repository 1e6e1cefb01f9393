/**
 * Daily snapshots after the base one (`generate --days N`): day k's six files are day k-1's files,
 * read line by line, with that day's changes. The CRM and the ERP export whole tables every day, so
 * every day folder is a complete set of the six files.
 *
 * Where a row goes is what a source system's export in insertion order does, and what the bronze
 * lineage (file + line number) of an incremental build sees:
 * - new rows (new customers, new orders, late lines, a new product version) are appended at the end
 *   of their file;
 * - a changed row (a customer update, the end date of a product's old version) stays at its line;
 * - a deleted row's line disappears: the lines after it move up by one.
 *
 * Each day (dated LAST_ORDER_DATE + k; the base snapshot is day 0, exactly what `generate` writes):
 * - new customers (cust_info, cust_az12, loc_a101 rows), each placing an order dated that day;
 * - new orders of existing customers, dated that day;
 * - late lines: one-line orders dated 1-5 days before a line the customer has in the week before
 *   that day, appended after the day's orders: they change that customer's point-in-time columns;
 * - customer updates: cst_marital_status flipped or cst_lastname changed (cust_info), or BDATE
 *   changed (cust_az12), on customers without any special case of the base;
 * - on days d with d % 7 = 3 (3, 10, 17, ...): one customer deleted (their cust_info, cust_az12 and
 *   loc_a101 rows; their sales lines stay, as an ERP keeps them), always one created on an earlier
 *   day of the sequence;
 * - on days d with d % 7 = 0 (7, 14, ...): a new product version (prd_info: the current version of a
 *   product gets prd_end_dt = the day before, a new row with a new prd_id and cost starts that day).
 *
 * The days add clean rows only: the base snapshot keeps every defect (structural ones included) and
 * the days add none. Everything a day does is a pure function of (scale, seed, structural rate, day)
 * and of the previous day's files: the same options give the same bytes, whatever N is.
 *
 * Lines are handled as latin1 strings (one character per byte) so that every byte of the previous
 * file, invalid UTF-8 and NUL included, is copied unchanged; new rows are encoded to UTF-8 first.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { FIRST_ID, LAST, type CustomerPlan, customerAt, customerCount, planCustomers } from './customers.ts';
import { type Catalog, type Product, buildCatalog, dayNumber } from './product-catalog.ts';
import { RangeAssigner, type Rng, cumulative, hash32, rngFor, searchCumulative } from './prng.ts';
import { DUE_DAYS, LAST_ORDER_DATE, LINES_CUM, SHIP_DAYS, UNKNOWN_ID_GAP, UNKNOWN_ID_SPAN } from './sales.ts';

/** Per unit of scale and per day (x 0.8-1.2): scale 100 adds about 2,000 orders, 4,500 lines a day. */
const NEW_CUSTOMERS_PER_DAY = 6;
const REPEAT_ORDERS_PER_DAY = 14;
const LATE_LINES_PER_DAY = 0.5;
const UPDATES_PER_DAY = 1;
/** A late line goes to a customer with a line in the week before the day, dated 1-5 days before it. */
const LATE_WINDOW_DAYS = 7;
const LATE_MAX_LAG = 5;

/** A customer is deleted on the days d with d % 7 = 3. */
export const isDeletionDay = (day: number): boolean => day % 7 === 3;
/** A product gets a new version on the days d with d % 7 = 0 (d > 0). */
export const isProductVersionDay = (day: number): boolean => day > 0 && day % 7 === 0;
const SCHEDULE = {
  deletedCustomer: 'days d with d % 7 = 3 (3, 10, 17, ...): one customer created on an earlier day is deleted',
  newProductVersion: 'days d with d % 7 = 0 (7, 14, 21, ...): one product gets a new version starting that day',
};

/** The folder of day k in a sequence of n days: day-00 .. day-NN (3 digits from 100 days). */
export function dayFolder(day: number, days: number): string {
  return `day-${String(day).padStart(days >= 100 ? 3 : 2, '0')}`;
}

export interface CustomerUpdate {
  id: number;
  file: 'cust_info' | 'cust_az12';
  field: 'cst_marital_status' | 'cst_lastname' | 'BDATE';
  from: string;
  to: string;
}

export interface LateLine {
  order: string;
  customerId: number;
  orderDate: string;
  /** The customer's latest line before the day, after orderDate. */
  laterLineDate: string;
}

export interface NewProductVersion {
  prdKey: string;
  endedPrdId: number;
  endDate: string;
  prdId: number;
  startDate: string;
  cost: number;
}

export interface DayFile {
  file: string;
  /** Data lines (the header excluded). */
  lines: number;
  appended: number;
  changed: number;
  removed: number;
  bytes: number;
}

export interface DayManifest {
  generator: string;
  formatVersion: 1;
  day: number;
  date: string;
  previous: string;
  options: { scale: number; seed: number; clean: boolean; structuralRate: number };
  schedule: typeof SCHEDULE;
  changes: {
    newCustomers: { count: number; ids: number[] };
    /** Orders dated that day (new customers' first orders included) and their lines. */
    newOrders: number;
    newLines: number;
    lateLines: { count: number; lines: LateLine[] };
    updatedCustomers: { count: number; updates: CustomerUpdate[] };
    deletedCustomerIds: number[];
    newProductVersions: NewProductVersion[];
  };
  files: Record<DayFileName, DayFile>;
  notes: string[];
}

type DayFileName = 'cust_info' | 'cust_az12' | 'loc_a101' | 'prd_info' | 'px_cat_g1v2' | 'sales_details';
const FILES: Record<DayFileName, string> = {
  cust_info: 'cust_info.csv',
  cust_az12: 'cust_az12.csv',
  loc_a101: 'loc_a101.csv',
  prd_info: 'prd_info.csv',
  px_cat_g1v2: 'px_cat_g1v2.csv',
  sales_details: 'sales_details.csv',
};

/** What every day derives from the base options (pure, small). */
export interface DayBase {
  scale: number;
  seed: number;
  clean: boolean;
  rate: number;
  baseCustomers: number;
  /** New customers' ids start above the ids the base's unknown-customer sales lines use. */
  firstNewId: number;
  customers: CustomerPlan;
  catalog: Catalog;
  sellable: Product[];
  sellCumulative: Float64Array;
  versionCandidates: Product[];
  firstNewPrdId: number;
}

export function dayBase(scale: number, seed: number, rate: number, clean: boolean): DayBase {
  const baseCustomers = customerCount(scale);
  const catalog = buildCatalog(scale, seed);
  const sellable = catalog.products.filter((p) => p.sellable);
  const sellCumulative = cumulative(sellable.map((p) => p.weight));
  const versionCandidates = sellable.filter((p) => p.sub.inCategoryFile !== false && p.line !== '' && p.versions.at(-1)!.end === '' && p.versions.at(-1)!.cost !== '');
  const firstNewPrdId = 1 + Math.max(...catalog.products.flatMap((p) => p.versions.map((v) => v.prdId)));
  return {
    scale, seed, clean, rate, baseCustomers,
    firstNewId: FIRST_ID + baseCustomers + UNKNOWN_ID_GAP + UNKNOWN_ID_SPAN,
    customers: planCustomers(scale, seed, rate),
    catalog, sellable, sellCumulative, versionCandidates, firstNewPrdId,
  };
}

interface PlannedUpdate {
  id: number;
  field: CustomerUpdate['field'];
  /** The new value (null for the marital status: the opposite of the current one). */
  value: string | null;
}

/** What day k does, known before its files are read. */
interface DayPlan {
  day: number;
  dayNumber: number;
  newCustomers: number;
  newIdStart: number;
  /** Customers that exist before the day: the base's and those of days 1..k-1. */
  existing: number;
  repeatOrders: number;
  lateLines: number;
  /** Every deleted customer up to this day, this day's included. */
  deleted: ReadonlySet<number>;
  deletedToday: number | null;
  version: (NewProductVersion & { product: Product }) | null;
  updates: PlannedUpdate[];
}

const scaled = (rng: Rng, perDay: number, scale: number, min: number) => Math.max(min, Math.round(perDay * scale * (0.8 + 0.4 * rng.next())));
const isoOf = (day: number) => new Date(day * 86400000).toISOString().slice(0, 10);
const ymdOf = (day: number) => isoOf(day).replace(/-/g, '');
const pad2 = (n: number) => String(n).padStart(2, '0');

/** Plans days 1..days (each a pure function of the base and the days before it). */
export function planDays(base: DayBase, days: number): DayPlan[] {
  const plans: DayPlan[] = [];
  const deleted = new Set<number>();
  const current = new Map<number, { prdId: number; cost: number }>();
  let newSoFar = 0;
  let nextPrdId = base.firstNewPrdId;
  const lastDay = dayNumber(LAST_ORDER_DATE);
  for (let day = 1; day <= days; day++) {
    const rng = rngFor(base.seed, 'day', day);
    const existing = base.baseCustomers + newSoFar;
    const idOf = (i: number) => (i < base.baseCustomers ? FIRST_ID + i : base.firstNewId + (i - base.baseCustomers));
    let deletedToday: number | null = null;
    if (isDeletionDay(day) && newSoFar > 0) {
      const start = rngFor(base.seed, 'day-delete', day).int(newSoFar);
      for (let j = 0; j < newSoFar; j++) {
        const id = base.firstNewId + ((start + j) % newSoFar);
        if (!deleted.has(id)) {
          deletedToday = id;
          deleted.add(id);
          break;
        }
      }
    }
    let version: DayPlan['version'] = null;
    if (isProductVersionDay(day) && base.versionCandidates.length > 0) {
      const vr = rngFor(base.seed, 'day-version', day);
      const product = base.versionCandidates[vr.int(base.versionCandidates.length)]!;
      const last = product.versions.at(-1)!;
      const cur = current.get(product.index) ?? { prdId: last.prdId, cost: Number(last.cost) };
      const cost = Math.max(1, Math.round(cur.cost * (1.03 + 0.09 * vr.next())));
      const prdId = nextPrdId++;
      version = { product, prdKey: product.prdKey, endedPrdId: cur.prdId, endDate: isoOf(lastDay + day - 1), prdId, startDate: isoOf(lastDay + day), cost };
      current.set(product.index, { prdId, cost });
    }
    const updates: PlannedUpdate[] = [];
    const ur = rngFor(base.seed, 'day-update', day);
    const wanted = scaled(ur, UPDATES_PER_DAY, base.scale, 1);
    const chosen = new Set<number>();
    for (let tries = 0; updates.length < wanted && tries < 20 * wanted; tries++) {
      const i = ur.int(existing);
      const id = idOf(i);
      // base customers with a special case (duplicates, padding, odd birthdates, no ERP rows...) keep it
      if ((i < base.baseCustomers && base.customers.assigner.classOf(i) !== undefined) || deleted.has(id) || chosen.has(id)) continue;
      chosen.add(id);
      const field = (['cst_marital_status', 'cst_lastname', 'BDATE'] as const)[ur.weighted([2, 2, 1])]!;
      const value = field === 'cst_lastname' ? ur.pick(LAST) : field === 'BDATE' ? `${ur.range(1940, 1986)}-${pad2(ur.range(1, 12))}-${pad2(ur.range(1, 28))}` : null;
      updates.push({ id, field, value });
    }
    const newCustomers = scaled(rng, NEW_CUSTOMERS_PER_DAY, base.scale, 1);
    plans.push({
      day,
      dayNumber: lastDay + day,
      newCustomers,
      newIdStart: base.firstNewId + newSoFar,
      existing,
      repeatOrders: scaled(rng, REPEAT_ORDERS_PER_DAY, base.scale, 2),
      lateLines: scaled(rng, LATE_LINES_PER_DAY, base.scale, 1),
      deleted: new Set(deleted),
      deletedToday,
      version,
      updates,
    });
    newSoFar += newCustomers;
  }
  return plans;
}

/** A write stream of latin1 strings, with backpressure. */
class LatinSink {
  private readonly stream: fs.WriteStream;
  private batch = '';
  private needDrain = false;

  constructor(file: string) {
    this.stream = fs.createWriteStream(file, { highWaterMark: 1 << 20 });
  }

  write(s: string): void {
    this.batch += s;
    if (this.batch.length >= 1 << 18) {
      if (!this.stream.write(this.batch, 'latin1')) this.needDrain = true;
      this.batch = '';
    }
  }

  async drain(): Promise<void> {
    if (this.needDrain) {
      await once(this.stream, 'drain');
      this.needDrain = false;
    }
  }

  async end(): Promise<number> {
    this.stream.end(this.batch, 'latin1');
    this.batch = '';
    await once(this.stream, 'finish');
    return this.stream.bytesWritten;
  }

  destroy(): void {
    this.stream.destroy();
  }
}

interface Rewrite {
  /** The text to write instead of a data line (the line ending excluded), or null to drop it. */
  line(text: string): string | null;
  /** Records appended after the last line, asked for once every line is read. */
  tail(): readonly string[];
}

/**
 * Copies `from` to `to` line by line through `rewrite`, keeping the header, the BOM, the line
 * ending and whether the file ends with one. Counts what changed.
 */
async function rewriteFile(from: string, to: string, rewrite: Rewrite, signal: AbortSignal | undefined): Promise<Omit<DayFile, 'file'>> {
  const input = fs.createReadStream(from, { encoding: 'latin1', highWaterMark: 1 << 20 });
  const out = new LatinSink(to);
  const counts = { lines: 0, appended: 0, changed: 0, removed: 0 };
  let header = true;
  let eol = '\r\n';
  const handle = (raw: string) => {
    if (header) {
      header = false;
      eol = raw.endsWith('\r') ? '\r\n' : '\n';
      out.write(eol === '\r\n' ? raw.slice(0, -1) : raw);
      return;
    }
    const text = eol === '\r\n' && raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const next = rewrite.line(text);
    if (next === null) {
      counts.removed++;
      return;
    }
    if (next !== text) counts.changed++;
    counts.lines++;
    out.write(eol + next);
  };
  try {
    let rest = '';
    for await (const chunk of input) {
      const parts = (rest + (chunk as string)).split('\n');
      rest = parts.pop()!;
      for (const p of parts) handle(p);
      signal?.throwIfAborted();
      await out.drain();
    }
    const finalNewline = rest === '';
    if (!finalNewline) handle(rest);
    for (const t of rewrite.tail()) {
      out.write(eol + t);
      counts.lines++;
      counts.appended++;
    }
    if (finalNewline) out.write(eol);
    return { ...counts, bytes: await out.end() };
  } catch (err) {
    input.destroy();
    out.destroy();
    throw err;
  }
}

/** A UTF-8 string as latin1 (its bytes, one character each), and back. */
const toBytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const fromBytes = (s: string) => Buffer.from(s, 'latin1').toString('utf8');

/**
 * The rewrite of the lines of one customer key: the first line of the key is the record (later ones
 * are damaged re-sends of it, which the loader rejects); a record is changed only when it is a plain
 * record of `fields` fields (no quoting), so a structural defect of the base is never touched.
 */
function keyedRewrite(keyOf: (text: string) => string, deleted: ReadonlySet<string>, changes: Map<string, (fields: string[]) => void>, fields: number, tail: () => readonly string[]): Rewrite {
  const seen = new Set<string>();
  return {
    line(text) {
      const key = keyOf(text);
      if (deleted.has(key)) return null;
      const change = changes.get(key);
      if (change === undefined || seen.has(key)) return text;
      seen.add(key);
      const f = text.split(',');
      if (f.length !== fields || text.includes('"')) return text;
      change(f);
      return f.join(',');
    },
    tail,
  };
}

const firstField = (text: string) => {
  const c = text.indexOf(',');
  return c < 0 ? text : text.slice(0, c);
};

/** Writes day `plan.day` into `outDir` from the previous day's folder `prevDir`. */
export async function writeDay(base: DayBase, plan: DayPlan, prevDir: string, outDir: string, previous: string, signal?: AbortSignal): Promise<DayManifest> {
  await fs.promises.mkdir(outDir, { recursive: true });
  const { day } = plan;
  const date = isoOf(plan.dayNumber);
  const rng = rngFor(base.seed, 'day-rows', day);
  const files = {} as Record<DayFileName, DayFile>;
  const run = async (name: DayFileName, rewrite: Rewrite) => {
    files[name] = { file: FILES[name], ...(await rewriteFile(path.join(prevDir, FILES[name]), path.join(outDir, FILES[name]), rewrite, signal)) };
  };

  // new customers: the base's attribute distributions, no special case, created on the CRM's clock
  // (cst_create_date after the base's, which end in 2026-01)
  const newPlan: CustomerPlan = { ...base.customers, customerSeed: hash32(base.seed, 'day-customer', day), customers: plan.newCustomers, assigner: new RangeAssigner(plan.newCustomers, 0, []) };
  const created = isoOf(dayNumber('2026-01-31') + day);
  const newIds: number[] = [];
  const newInfo: string[] = [];
  const newAz12: string[] = [];
  const newLoc: string[] = [];
  for (let j = 0; j < plan.newCustomers; j++) {
    const c = customerAt(newPlan, j);
    const id = plan.newIdStart + j;
    const key = `AW000${id}`;
    newIds.push(id);
    newInfo.push(toBytes(`${id},${key},${c.first},${c.last},${c.marital},${c.gndr},${created}`));
    newAz12.push(`${c.nas ? 'NAS' : ''}${key},${c.bdate},${c.gen}`);
    newLoc.push(`AW-${key.slice(2)},${c.country}`);
  }

  const updates: CustomerUpdate[] = [];
  const infoChanges = new Map<string, (f: string[]) => void>();
  const az12Changes = new Map<string, (f: string[]) => void>();
  for (const u of plan.updates) {
    if (u.field === 'BDATE') {
      az12Changes.set(`AW000${u.id}`, (f) => {
        updates.push({ id: u.id, file: 'cust_az12', field: u.field, from: f[1]!, to: u.value! });
        f[1] = u.value!;
      });
      continue;
    }
    infoChanges.set(String(u.id), (f) => {
      const at = u.field === 'cst_lastname' ? 3 : 4;
      const from = f[at]!;
      let to = u.value ?? (from === 'M' ? 'S' : 'M');
      if (to === from) to = LAST[(LAST.indexOf(to) + 1) % LAST.length]!;
      updates.push({ id: u.id, file: 'cust_info', field: u.field, from: fromBytes(from), to });
      f[at] = to;
    });
  }
  const del = plan.deletedToday;
  const none = new Set<string>();
  await run('cust_info', keyedRewrite(firstField, del === null ? none : new Set([String(del)]), infoChanges, 7, () => newInfo));
  await run('cust_az12', keyedRewrite((t) => {
    const k = firstField(t);
    return k.startsWith('NAS') ? k.slice(3) : k;
  }, del === null ? none : new Set([`AW000${del}`]), az12Changes, 3, () => newAz12));
  await run('loc_a101', keyedRewrite(firstField, del === null ? none : new Set([`AW-000${del}`]), new Map(), 2, () => newLoc));

  // prd_info: the old version's empty prd_end_dt gets the day before the new version's start
  const v = plan.version;
  const ended = v === null ? null : `${v.endedPrdId},`;
  let endedDone = false;
  await run('prd_info', {
    line(text) {
      if (ended === null || endedDone || !text.startsWith(ended) || !text.endsWith(',')) return text;
      endedDone = true;
      return text + v!.endDate;
    },
    tail: () => (v === null ? [] : [`${v.prdId},${v.prdKey},${v.product.name},${v.cost},${v.product.line},${v.startDate},`]),
  });
  await run('px_cat_g1v2', { line: (text) => text, tail: () => [] });

  // sales_details: the next order number and the customers with a line in the week before the day
  let maxOrder = 0;
  const today = ymdOf(plan.dayNumber);
  const windowStart = ymdOf(plan.dayNumber - LATE_WINDOW_DAYS);
  const recent = new Map<number, string>();
  const exists = (id: number) => !plan.deleted.has(id) && ((id >= FIRST_ID && id < FIRST_ID + base.baseCustomers) || (id >= base.firstNewId && id < base.firstNewId + plan.existing - base.baseCustomers));
  let newOrders = 0;
  let newLines = 0;
  const late: LateLine[] = [];
  await run('sales_details', {
    line(text) {
      const f = text.split(',', 4);
      const n = Number(f[0]!.slice(2));
      if (n > maxOrder) maxOrder = n;
      const od = f[3];
      if (od !== undefined && od.length === 8 && od >= windowStart && od < today) {
        const id = Number(f[2]);
        if (exists(id) && (recent.get(id) ?? '') < od) recent.set(id, od);
      }
      return text;
    },
    tail() {
      const out: string[] = [];
      let order = maxOrder + 1;
      const idOf = (i: number) => (i < base.baseCustomers ? FIRST_ID + i : base.firstNewId + (i - base.baseCustomers));
      const addOrder = (customer: number, dayNo: number, lines: number) => {
        const od = ymdOf(dayNo);
        const mid = `,${customer},${od},${ymdOf(dayNo + SHIP_DAYS)},${ymdOf(dayNo + DUE_DAYS)},`;
        const year = Math.min(4, Math.max(0, Number(od.slice(0, 4)) - 2010));
        const chosen: Product[] = [];
        for (let l = 0; l < lines; l++) {
          const p = base.sellable[searchCumulative(base.sellCumulative, rng.next() * base.sellCumulative.at(-1)!)]!;
          if (chosen.includes(p)) continue;
          chosen.push(p);
          const qty = rng.chance(0.002) ? rng.range(2, 4) : 1;
          const price = p.prices[year]!;
          out.push(`SO${order},${p.salesKey}${mid}${qty * price},${qty},${price}`);
        }
        order++;
        return chosen.length;
      };
      // the day's orders: new customers' first orders among repeat orders of existing customers
      let newLeft = plan.newCustomers;
      let repeatLeft = plan.repeatOrders;
      while (newLeft + repeatLeft > 0) {
        let customer: number | null = null;
        if (rng.int(newLeft + repeatLeft) < newLeft) customer = newIds[plan.newCustomers - newLeft--]!;
        else {
          repeatLeft--;
          for (let tries = 0; tries < 20 && customer === null; tries++) {
            const id = idOf(rng.int(plan.existing));
            if (!plan.deleted.has(id)) customer = id;
          }
          if (customer === null) continue;
        }
        newLines += addOrder(customer, plan.dayNumber, 1 + rng.fromCumulative(LINES_CUM));
        newOrders++;
      }
      // late lines: one-line orders dated before a line their customer already has
      const candidates = [...recent.keys()];
      for (let k = 0; k < plan.lateLines && candidates.length > 0; k++) {
        const customer = candidates[rng.int(candidates.length)]!;
        const later = recent.get(customer)!;
        const laterDay = dayNumber(`${later.slice(0, 4)}-${later.slice(4, 6)}-${later.slice(6, 8)}`);
        const dayNo = laterDay - 1 - rng.int(LATE_MAX_LAG);
        late.push({ order: `SO${order}`, customerId: customer, orderDate: isoOf(dayNo), laterLineDate: isoOf(laterDay) });
        addOrder(customer, dayNo, 1);
      }
      return out;
    },
  });

  return {
    generator: 'medallion-etl generate --days (src/generate/days.ts)',
    formatVersion: 1,
    day,
    date,
    previous,
    options: { scale: base.scale, seed: base.seed, clean: base.clean, structuralRate: base.rate },
    schedule: SCHEDULE,
    changes: {
      newCustomers: { count: plan.newCustomers, ids: newIds },
      newOrders,
      newLines,
      lateLines: { count: late.length, lines: late },
      updatedCustomers: { count: updates.length, updates: updates.sort((a, b) => a.id - b.id) },
      deletedCustomerIds: del === null ? [] : [del],
      newProductVersions: v === null ? [] : [{ prdKey: v.prdKey, endedPrdId: v.endedPrdId, endDate: v.endDate, prdId: v.prdId, startDate: v.startDate, cost: v.cost }],
    },
    files,
    notes: [
      'Day k = day k-1 + these changes. New rows (customers, orders, late lines, the new product version) are appended at the end of their file; a changed row stays at its line; a deleted row\'s line is gone (the lines after it move up by one).',
      'The day adds clean rows only; the defects of the base snapshot (day 0) are kept as they are.',
      'Late lines: one-line orders appended after the day\'s orders, dated 1-5 days before the customer\'s latest line (laterLineDate), itself in the week before the day.',
      'A deleted customer\'s sales lines stay in sales_details (the ERP keeps them).',
    ],
  };
}
