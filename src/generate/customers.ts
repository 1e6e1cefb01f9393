/**
 * Customers: one pure function `customerAt(plan, i)` gives every attribute of customer i (from the
 * seed and i alone), and three row generators write the CRM and ERP views of the same customers.
 * The special cases (duplicates, padded names, odd birthdates, gender and country spellings,
 * customers without ERP rows) are disjoint exact ranges of one seeded permutation of the customers.
 */
import { RangeAssigner, Rng, cumulative, hash32, rngFor } from './prng.ts';
import { DEFECTS, DISTRIBUTIONS, REAL_SIZES, scaledRate, scaledReal } from './rates.ts';

export type CustomerClass =
  | 'dup2' | 'dup3' | 'padded' | 'future_bd' | 'old_bd' | 'gender_conflict' | 'no_erp'
  | 'gen_empty' | 'gen_ws' | 'gen_code' | 'cn_usa' | 'cn_us' | 'cn_de' | 'cn_empty' | 'cn_ws';

export interface CustomerPlan {
  readonly seed: number;
  /** hash of (seed, 'customer'): customer i's stream is hash32(customerSeed, i). */
  readonly customerSeed: number;
  readonly customers: number;
  readonly assigner: RangeAssigner<CustomerClass>;
  readonly junkRows: number;
  /** cust_info records: customers + superseded duplicate rows + junk rows. */
  readonly custInfoRecords: number;
  readonly erpRecords: number;
}

export const FIRST_ID = 11000;

export function customerCount(scale: number): number {
  return Math.max(10, Math.round(REAL_SIZES.customers * scale));
}

export function planCustomers(scale: number, seed: number, rate: number): CustomerPlan {
  const customers = customerCount(scale);
  const r = (n: number) => scaledReal(n, scale);
  const assigner = new RangeAssigner<CustomerClass>(customers, hash32(seed, 'customer-classes'), [
    ['dup2', r(4)], ['dup3', r(1)],
    ['padded', r(DEFECTS.padded_names.real)],
    ['future_bd', r(DEFECTS.future_birthdate.real)],
    ['old_bd', r(DEFECTS.birthdate_too_old.real)],
    ['gender_conflict', r(DEFECTS.gender_conflict.real)],
    ['no_erp', scaledRate(rate, customers)],
    ['gen_code', r(DISTRIBUTIONS.erp_gender_code.real)],
    ['gen_ws', r(4)],
    ['cn_usa', r(2591)], ['cn_us', r(1500)], ['cn_de', r(566)],
    ['cn_empty', r(332)], ['cn_ws', r(5)],
    ['gen_empty', r(1472)],
  ]);
  const c = assigner.counts;
  const junkRows = r(DEFECTS.junk_customer_rows.real);
  return {
    seed,
    customerSeed: hash32(seed, 'customer'),
    customers,
    assigner,
    junkRows,
    custInfoRecords: customers + (c.dup2 ?? 0) + 2 * (c.dup3 ?? 0) + junkRows,
    erpRecords: customers - (c.no_erp ?? 0),
  };
}

const MALE = ['Jon', 'Eugene', 'Ruben', 'Julio', 'Marco', 'Robert', 'Shannon', 'Jacquelyn', 'Curtis', 'Lauren', 'Ian', 'Sydney', 'Chloe', 'Wyatt', 'Dalton', 'Blake', 'Lance', 'Marc', 'Thomas', 'Ivan', 'Clayton', 'Luis', 'Edward', 'Nathan', 'Adam', 'Jordan', 'Carlos', 'Devin', 'Gabriel', 'Kevin', 'Dylan', 'Mason', 'Isaiah', 'Seth', 'Bryan', 'Alexander', 'Jason', 'Cameron', 'Xavier', 'Austin', 'Hunter', 'Aaron', 'Raul', 'Ronald', 'Terrence', 'Colin', 'Wesley', 'Sean'];
const FEMALE = ['Christy', 'Elizabeth', 'Janet', 'Lauren', 'Jennifer', 'Megan', 'Jessica', 'Abigail', 'Alexandra', 'Katherine', 'Natalie', 'Rebecca', 'Grace', 'Hannah', 'Samantha', 'Emily', 'Morgan', 'Isabella', 'Laura', 'Carmen', 'Alyssa', 'Olivia', 'Victoria', 'Kaitlyn', 'Destiny', 'Jasmine', 'Kayla', 'Brianna', 'Faith', 'Stephanie', 'Anna', 'Mary', 'Cindy', 'Michele', 'Deanna', 'Tamara', 'Bianca', 'Nicole', 'Caroline', 'Julia', 'Marissa', 'Rachel', 'Amanda', 'Erin', 'Gina', 'Leah'];
export const LAST = ['Yang', 'Huang', 'Torres', 'Zhu', 'Johnson', 'Ruiz', 'Alvarez', 'Mehta', 'Verhoff', 'Carlson', 'Suarez', 'Lu', 'Walker', 'Jenkins', 'Bennett', 'Diaz', 'Chen', 'Wang', 'Kumar', 'Navarro', 'Jimenez', 'King', 'Subram', 'Zhang', 'Suri', 'Hernandez', 'Rodriguez', 'Perry', 'Coleman', 'Russell', 'Griffin', 'Hayes', 'Foster', 'Simmons', 'Bryant', 'Butler', 'Sanders', 'Price', 'Patterson', 'Long', 'Ramirez', 'Gonzalez', 'Nara', 'Raman', 'Shan', 'Goel', 'Xu', 'Sun', 'Li', 'Liu', 'Ma', 'Gao', 'Lin', 'Zeng', 'Guo', 'He', 'Ye', 'Moreno', 'Romero', 'Ortega', 'Gutierrez', 'Castillo', 'Campbell', 'Mitchell', 'Roberts', 'Turner', 'Phillips', 'Evans', 'Edwards', 'Collins', 'Stewart', 'Morris', 'Rogers', 'Reed', 'Cook', 'Morgan', 'Bell', 'Murphy', 'Bailey', 'Rivera', 'Cooper', 'Richardson', 'Cox', 'Howard', 'Ward', 'Peterson', 'Gray', 'James', 'Watson', 'Brooks', 'Kelly', 'Sanchez', 'Powell', 'Ross', 'Henderson'];
// NFC, and every letter representable in Latin-1 (invalid-UTF-8 test records re-encode a row as Latin-1)
const ACCENTED_MALE = ['Andrés', 'José', 'Jésus', 'Ramón', 'Joaquín', 'François', 'Björn', 'Jörg', 'Rubén'].map((n) => n.normalize('NFC'));
const ACCENTED_FEMALE = ['María', 'Sofía', 'Inés', 'Renée', 'Zoë', 'Mónica', 'Begoña'].map((n) => n.normalize('NFC'));
const ACCENTED_LAST = ['Jiménez', 'Muñoz', 'Hernández', 'Peña', 'Gómez', 'Kovár', 'Løvstad', 'Gonçalves', 'Conceição', 'Müller', 'Sánchez', 'Ibáñez'].map((n) => n.normalize('NFC'));
const ACCENT_RATE = DISTRIBUTIONS.accented_names.real / REAL_SIZES.customers / 2;

const COUNTRIES = ['Australia', 'United States', 'United Kingdom', 'France', 'Canada', 'Germany'];
// Real rows with the full spelling (the codes USA/US/DE are planned as classes on top).
const COUNTRY_WEIGHTS = [3591, 3391, 1913, 1810, 1571, 1214];
const DECADES: [number, number, number][] = [[1925, 1929, 0.5], [1930, 1939, 0.8], [1940, 1949, 6.2], [1950, 1959, 14], [1960, 1969, 24.3], [1970, 1979, 34.3], [1980, 1986, 20.1]];
const DECADE_CUM = cumulative(DECADES.map((d) => d[2]));
const COUNTRY_CUM = cumulative(COUNTRY_WEIGHTS);

export interface Customer {
  id: number;
  key: string;
  cls: CustomerClass | undefined;
  male: boolean;
  first: string;
  last: string;
  marital: string;
  gndr: string;
  create: string;
  bdate: string;
  gen: string;
  nas: boolean;
  country: string;
  accented: boolean;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function isoDate(y: number, m: number, d: number): string {
  return `${y}-${pad2(m)}-${pad2(d)}`;
}
function randomDate(rng: Rng, y0: number, y1: number): string {
  const y = rng.range(y0, y1);
  const m = rng.range(1, 12);
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return isoDate(y, m, rng.range(1, DAYS_IN_MONTH[m - 1]! + (leap ? 1 : 0)));
}

function createDate(i: number, n: number): string {
  // 2025-10 (23%), a few in 2025-11/12, the rest 2026-01, increasing with the id
  const f = i / n;
  if (f < 0.227) return isoDate(2025, 10, 6 + Math.floor((f / 0.227) * 26));
  if (f < 0.2286) return isoDate(2025, 11, 1 + Math.floor(((f - 0.227) / 0.0016) * 30));
  if (f < 0.2354) return isoDate(2025, 12, 1 + Math.floor(((f - 0.2286) / 0.0068) * 31));
  return isoDate(2026, 1, 1 + Math.floor(((f - 0.2354) / 0.7646) * 25));
}

export function customerAt(plan: CustomerPlan, i: number): Customer {
  const rng = new Rng(hash32(plan.customerSeed, i));
  const cls = plan.assigner.classOf(i);
  const id = FIRST_ID + i;
  const male = rng.chance(0.508);
  let accented = false;
  let first = rng.pick(male ? MALE : FEMALE);
  let last = rng.pick(LAST);
  if (rng.chance(ACCENT_RATE)) {
    first = rng.pick(male ? ACCENTED_MALE : ACCENTED_FEMALE);
    accented = true;
  }
  if (rng.chance(ACCENT_RATE)) {
    last = rng.pick(ACCENTED_LAST);
    accented = true;
  }
  if (cls === 'padded') {
    const sp = () => ' '.repeat(1 + rng.int(2));
    const how = rng.int(3);
    if (how !== 1) first = rng.chance(0.5) ? sp() + first : first + sp();
    if (how !== 0) last = rng.chance(0.5) ? sp() + last : last + sp();
  }
  const marital = rng.chance(DISTRIBUTIONS.marital_status_blank.real / REAL_SIZES.customers) ? '' : rng.chance(0.5417) ? 'M' : 'S';
  const gndrBlank = cls !== 'gender_conflict' && rng.chance(DISTRIBUTIONS.crm_gender_blank.real / REAL_SIZES.customers);
  const gndr = gndrBlank ? '' : male ? 'M' : 'F';
  let bdate: string;
  if (cls === 'future_bd') bdate = rng.chance(0.25) ? randomDate(rng, 9999, 9999) : randomDate(rng, 2031, 2080);
  else if (cls === 'old_bd') bdate = randomDate(rng, 1916, 1922);
  else {
    const [y0, y1] = DECADES[rng.fromCumulative(DECADE_CUM)]!;
    bdate = randomDate(rng, y0, y1);
  }
  let gen = male ? 'Male' : 'Female';
  if (cls === 'gender_conflict') gen = male ? 'Female' : 'Male';
  else if (cls === 'gen_empty') gen = '';
  else if (cls === 'gen_ws') gen = ' '.repeat(1 + rng.int(2));
  else if (cls === 'gen_code') gen = (male ? 'M' : 'F') + (rng.chance(0.25) ? ' ' : '');
  const nas = rng.chance(DISTRIBUTIONS.nas_prefixed_ids.real / REAL_SIZES.customers);
  let country = COUNTRIES[rng.fromCumulative(COUNTRY_CUM)]!;
  if (cls === 'cn_usa') country = 'USA';
  else if (cls === 'cn_us') country = 'US';
  else if (cls === 'cn_de') country = 'DE';
  else if (cls === 'cn_empty') country = '';
  else if (cls === 'cn_ws') country = ' '.repeat(1 + rng.int(3));
  return { id, key: `AW000${id}`, cls, male, first, last, marital, gndr, create: createDate(i, plan.customers), bdate, gen, nas, country, accented };
}

export interface CustomerStats {
  accentedNames: number;
  crmGenderBlank: number;
  maritalBlank: number;
  nasPrefixed: number;
  duplicatedIds: number;
  supersededRows: number;
  paddedRows: number;
}

const JUNK_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The rows of one customer in the three files (ERP rows are null for a customer without ERP rows). */
export interface CustomerRows {
  /** cust_info rows: older superseded duplicates first; `plain` = no semantic defect on the row. */
  info: { line: string; plain: boolean }[];
  az12: string | null;
  loc: string | null;
}

export function customerRows(plan: CustomerPlan, i: number, stats: CustomerStats): CustomerRows {
  const c = customerAt(plan, i);
  if (c.accented) stats.accentedNames++;
  if (c.gndr === '') stats.crmGenderBlank++;
  if (c.marital === '') stats.maritalBlank++;
  const info: { line: string; plain: boolean }[] = [];
  if (c.cls === 'dup2' || c.cls === 'dup3') {
    // older, less complete rows first; the last row (latest create date) is the complete one
    const rng = rngFor(plan.seed, 'duplicate', i);
    const older = c.cls === 'dup2' ? 1 : 2;
    stats.duplicatedIds++;
    for (let k = older; k >= 1; k--) {
      const date = new Date(Date.UTC(Number(c.create.slice(0, 4)), Number(c.create.slice(5, 7)) - 1, Number(c.create.slice(8, 10)) - k)).toISOString().slice(0, 10);
      const how = rng.int(4);
      const first = how === 0 || how === 2 ? '' : c.first;
      const last = how === 1 || how === 2 ? '' : c.last;
      stats.supersededRows++;
      info.push({ line: `${c.id},${c.key},${first},${last},${how === 3 ? '' : c.marital},,${date}`, plain: false });
    }
  }
  if (c.cls === 'padded') stats.paddedRows++;
  info.push({ line: `${c.id},${c.key},${c.first},${c.last},${c.marital},${c.gndr},${c.create}`, plain: c.cls !== 'padded' && c.cls !== 'dup2' && c.cls !== 'dup3' });
  if (c.cls === 'no_erp') return { info, az12: null, loc: null };
  if (c.nas) stats.nasPrefixed++;
  return { info, az12: `${c.nas ? 'NAS' : ''}${c.key},${c.bdate},${c.gen}`, loc: `AW-${c.key.slice(2)},${c.country}` };
}

/** The junk rows at the end of cust_info: no cst_id, only a junk cst_key. */
export function junkRows(plan: CustomerPlan): string[] {
  const rng = rngFor(plan.seed, 'junk');
  const out: string[] = [];
  for (let j = 0; j < plan.junkRows; j++) {
    const len = rng.range(4, 8);
    let key = '';
    for (let k = 0; k < len; k++) key += JUNK_CHARS[rng.int(rng.chance(0.5) ? 26 : JUNK_CHARS.length)];
    out.push(`,${key},,,,,`);
  }
  return out;
}
