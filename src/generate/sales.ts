/**
 * Sales lines: orders in date order (SO43697, SO43698, ...), 1-8 lines each, one customer per
 * order, between 2010-12-29 and 2014-01-28, ship = order + 7 days, due = order + 12 days,
 * sales = quantity x price. Order volume per month follows the real exports (seasonal peaks in June
 * and December, the jump when accessories and clothing start selling at the end of 2012).
 *
 * Customers: the first order of each customer is spread evenly over the orders (every customer
 * orders at least once, in a seeded order); repeat orders go to a customer seen before, 6% of them to
 * a small set of loyal customers, which gives the long tail (most 1-3 orders, a few 15-30).
 *
 * Each order has at most one semantic defect class (a disjoint exact range of a seeded permutation
 * of the orders), on one line (or on all lines of the order for an unknown customer).
 */
import { type Catalog, type Product, dayNumber, unknownProductKey } from './product-catalog.ts';
import { FIRST_ID } from './customers.ts';
import { Permutation, RangeAssigner, type Rng, cumulative, hash32, rngFor, searchCumulative } from './prng.ts';
import { DEFECTS, REAL_SIZES, scaledRate, scaledReal } from './rates.ts';
import type { RowContext } from './rows.ts';

export const FIRST_ORDER_DATE = '2010-12-29';
export const LAST_ORDER_DATE = '2014-01-28';
export const FIRST_ORDER_NUMBER = 43697;
/** Unknown customer ids above the known ones: FIRST_ID + customers + [GAP, GAP + SPAN). */
export const UNKNOWN_ID_GAP = 100;
export const UNKNOWN_ID_SPAN = 100_000;
/** Orders per month in the real exports (by order month): the seasonality and trend. */
export const MONTHLY_ORDERS: Record<string, number> = {
  '2010-12': 14,
  ...monthly(2011, [144, 144, 150, 157, 174, 214, 188, 193, 185, 221, 208, 222]),
  ...monthly(2012, [252, 260, 212, 219, 207, 318, 246, 294, 269, 313, 324, 330]),
  ...monthly(2013, [700, 1450, 1680, 1640, 1750, 2010, 1900, 1970, 1880, 2070, 2160, 2250]),
  '2014-01': 1260,
};
/** Lines per order once accessories sell (real counts 2013-2014, 1..8 lines). */
export const LINES_PER_ORDER = [4270, 8163, 5870, 3138, 696, 109, 12, 3];
export const LINES_CUM = cumulative(LINES_PER_ORDER);
const ACCESSORIES_FROM = dayNumber('2012-12-28');
export const SHIP_DAYS = 7;
export const DUE_DAYS = 12;
const LOYAL_SHARE = 0.06;
const LOYAL_FRACTION = 0.002;

function monthly(year: number, counts: number[]): Record<string, number> {
  return Object.fromEntries(counts.map((c, i) => [`${year}-${String(i + 1).padStart(2, '0')}`, c]));
}

export type SalesClass =
  | 'invalid_date' | 'price_missing' | 'price_negative' | 'sales_missing' | 'sales_negative' | 'sales_zero' | 'sales_mismatch'
  | 'impossible_date' | 'unknown_product' | 'unknown_customer' | 'conflict' | 'exact_dup';

export interface SalesPlan {
  readonly seed: number;
  readonly orders: number;
  readonly customers: number;
  readonly catalog: Catalog;
  readonly assigner: RangeAssigner<SalesClass>;
}

export function orderCount(scale: number): number {
  return Math.max(20, Math.round(REAL_SIZES.orders * scale));
}

export function planSales(scale: number, seed: number, rate: number, customers: number, catalog: Catalog): SalesPlan {
  const orders = orderCount(scale);
  const r = (n: number) => scaledReal(n, scale);
  const q = scaledRate(rate, orders);
  const assigner = new RangeAssigner<SalesClass>(orders, hash32(seed, 'sales-classes'), [
    ['invalid_date', r(DEFECTS.invalid_order_date.real)],
    ['price_missing', r(DEFECTS.price_missing.real)],
    ['price_negative', r(DEFECTS.price_negative.real)],
    ['sales_missing', r(DEFECTS.sales_missing.real)],
    ['sales_negative', r(DEFECTS.sales_negative.real)],
    ['sales_zero', r(DEFECTS.sales_zero.real)],
    ['sales_mismatch', r(DEFECTS.sales_mismatch.real)],
    ['impossible_date', q],
    ['unknown_product', q],
    ['unknown_customer', q],
    ['conflict', q],
    ['exact_dup', q],
  ]);
  return { seed, orders, customers, catalog, assigner };
}

export interface SalesStats {
  orders: number;
  lines: number;
  firstOrderDate: string;
  lastOrderDate: string;
  byClass: Record<SalesClass, number>;
  invalidDateZero: number;
  invalidDateInSingleLineOrder: number;
  unknownCustomerOrders: number;
  quantityAboveOne: number;
  maxLinesPerOrder: number;
}

export function newSalesStats(): SalesStats {
  return {
    orders: 0, lines: 0, firstOrderDate: '', lastOrderDate: '',
    byClass: { invalid_date: 0, price_missing: 0, price_negative: 0, sales_missing: 0, sales_negative: 0, sales_zero: 0, sales_mismatch: 0, impossible_date: 0, unknown_product: 0, unknown_customer: 0, conflict: 0, exact_dup: 0 },
    invalidDateZero: 0, invalidDateInSingleLineOrder: 0, unknownCustomerOrders: 0, quantityAboveOne: 0, maxLinesPerOrder: 0,
  };
}

const ymd = (day: number) => new Date(day * 86400000).toISOString().slice(0, 10).replace(/-/g, '');

/** Orders per day (first and last day get at least one order each). */
export function ordersPerDay(orders: number, rng: Rng): Int32Array {
  const first = dayNumber(FIRST_ORDER_DATE);
  const last = dayNumber(LAST_ORDER_DATE);
  const days = last - first + 1;
  const weights = new Float64Array(days);
  for (let d = 0; d < days; d++) {
    const iso = new Date((first + d) * 86400000).toISOString();
    const month = iso.slice(0, 7);
    const inMonth = month === '2010-12' ? 3 : month === '2014-01' ? 28 : new Date(Date.UTC(Number(iso.slice(0, 4)), Number(iso.slice(5, 7)), 0)).getUTCDate();
    weights[d] = (MONTHLY_ORDERS[month]! / inMonth) * (0.8 + 0.4 * rng.next());
  }
  const total = weights.reduce((a, b) => a + b, 0);
  const counts = new Int32Array(days);
  const spread = Math.max(0, orders - 2);
  let cum = 0;
  let prev = 0;
  for (let d = 0; d < days; d++) {
    cum += weights[d]!;
    const upto = Math.round((spread * cum) / total);
    counts[d] = upto - prev;
    prev = upto;
  }
  counts[0]! += Math.min(1, orders);
  counts[days - 1]! += orders >= 2 ? 1 : 0;
  return counts;
}

interface Epoch {
  products: Product[];
  cumulative: Float64Array;
  total: number;
}

function buildEpochs(catalog: Catalog, firstDay: number, days: number): { epochOfDay: Int32Array; epochs: Epoch[] } {
  const sellable = catalog.products.filter((p) => p.sellable);
  const starts = [...new Set(sellable.map((p) => p.sellFromDay))].sort((a, b) => a - b);
  const epochs: Epoch[] = [];
  const boundaries: number[] = [];
  for (const start of starts) {
    const products = sellable.filter((p) => p.sellFromDay <= start);
    const cumulative = new Float64Array(products.length);
    let t = 0;
    products.forEach((p, i) => {
      t += p.weight;
      cumulative[i] = t;
    });
    epochs.push({ products, cumulative, total: t });
    boundaries.push(start);
  }
  const epochOfDay = new Int32Array(days);
  for (let d = 0; d < days; d++) {
    let e = 0;
    while (e + 1 < boundaries.length && boundaries[e + 1]! <= firstDay + d) e++;
    epochOfDay[d] = e;
  }
  return { epochOfDay, epochs };
}

function impossibleDate(rng: Rng, valid: string): string {
  const y = valid.slice(0, 4);
  switch (rng.int(3)) {
    case 0:
      return `${y}${rng.range(13, 19)}${valid.slice(6, 8)}`;
    case 1:
      return `${valid.slice(0, 6)}${rng.range(32, 39)}`;
    default:
      return `${y}02${rng.range(30, 31)}`;
  }
}

/** sales_details.csv rows. */
export function* salesRows(plan: SalesPlan, ctx: RowContext, stats: SalesStats): Generator<string> {
  const rng = rngFor(plan.seed, 'sales');
  const firstDay = dayNumber(FIRST_ORDER_DATE);
  const perDay = ordersPerDay(plan.orders, rngFor(plan.seed, 'calendar'));
  const days = perDay.length;
  const dates: string[] = [];
  for (let d = 0; d < days + DUE_DAYS; d++) dates.push(ymd(firstDay + d));
  const { epochOfDay, epochs } = buildEpochs(plan.catalog, firstDay, days);
  const custPerm = new Permutation(plan.customers, hash32(plan.seed, 'customer-order'));
  const M = plan.orders;
  const C = Math.min(plan.customers, M);
  const loyal = Math.max(1, Math.round(plan.customers * LOYAL_FRACTION));
  const introduced = (k: number) => (k < 0 ? 0 : Math.ceil(((k + 1) * C) / M));
  const known = plan.catalog.productKeys;

  // ",sales,1,price" of a clean one-unit line, per product and year: most lines are exactly that
  const tails = new Map<Product, string[]>();
  for (const e of epochs) for (const p of e.products) if (!tails.has(p)) tails.set(p, p.prices.map((price) => `,${price},1,${price}`));

  let day = 0;
  let leftToday = perDay[0]!;
  const chosen: Product[] = [];
  const lines: string[] = [];
  for (let k = 0; k < M; k++) {
    while (leftToday === 0) leftToday = perDay[++day]!;
    leftToday--;
    const od = dates[day]!;
    const sd = dates[day + SHIP_DAYS]!;
    const dd = dates[day + DUE_DAYS]!;
    const yearIx = Number(od.slice(0, 4)) - 2010;
    if (k === 0) stats.firstOrderDate = od;
    stats.lastOrderDate = od;

    // customer
    const before = introduced(k - 1);
    let rank: number;
    if (introduced(k) > before) rank = before;
    else rank = rng.chance(LOYAL_SHARE) ? rng.int(Math.min(loyal, before)) : rng.int(before);
    const cls = plan.assigner.classOf(k);
    let custId = FIRST_ID + custPerm.at(rank);
    if (cls === 'unknown_customer') custId = rng.chance(0.5) ? FIRST_ID + plan.customers + UNKNOWN_ID_GAP + rng.int(UNKNOWN_ID_SPAN) : rng.range(1000, FIRST_ID - 1);

    // products
    const epoch = epochs[epochOfDay[day]!]!;
    const n = firstDay + day < ACCESSORIES_FROM ? 1 : 1 + rng.fromCumulative(LINES_CUM);
    chosen.length = 0;
    for (let l = 0; l < n; l++) {
      for (let attempt = 0; attempt < 8; attempt++) {
        const p = epoch.products[searchCumulative(epoch.cumulative, rng.next() * epoch.total)]!;
        if (!chosen.includes(p)) {
          chosen.push(p);
          break;
        }
      }
    }
    const nLines = chosen.length;
    const defectLine = cls && cls !== 'unknown_customer' ? rng.int(nLines) : -1;
    const head = `SO${FIRST_ORDER_NUMBER + k},`;
    const mid = `,${custId},${od},${sd},${dd}`;
    lines.length = 0;
    let conflictLine: string | undefined;
    for (let l = 0; l < nLines; l++) {
      const p = chosen[l]!;
      const qty = rng.chance(0.002) ? rng.range(2, 4) : 1;
      if (qty > 1) stats.quantityAboveOne++;
      if (l !== defectLine && qty === 1 && cls !== 'unknown_customer') {
        lines.push(head + p.salesKey + mid + tails.get(p)![yearIx]);
        continue;
      }
      const price = p.prices[yearIx]!;
      let key = p.salesKey;
      let orderDate = od;
      let sales = String(qty * price);
      let priceText = String(price);
      if (l === defectLine) {
        switch (cls) {
          case 'invalid_date':
            if (rng.chance(17 / 19)) {
              orderDate = '0';
              stats.invalidDateZero++;
            } else orderDate = String(rng.range(1000, 99999));
            if (nLines === 1) stats.invalidDateInSingleLineOrder++;
            break;
          case 'impossible_date':
            orderDate = impossibleDate(rng, od);
            break;
          case 'price_missing':
            priceText = '';
            break;
          case 'price_negative':
            priceText = String(-price);
            break;
          case 'sales_missing':
            sales = '';
            break;
          case 'sales_negative':
            sales = String(-(qty * price));
            break;
          case 'sales_zero':
            sales = '0';
            break;
          case 'sales_mismatch': {
            const right = qty * price;
            let wrong = rng.chance(0.5) ? Math.max(1, Math.round(right * (0.1 + 0.8 * rng.next()))) : Math.round(right * (1.1 + 2 * rng.next())) + 1;
            if (wrong === right) wrong = right + 1;
            sales = String(wrong);
            break;
          }
          case 'unknown_product': {
            key = unknownProductKey(rng, known);
            const up = rng.range(5, 120);
            priceText = String(up);
            sales = String(qty * up);
            break;
          }
        }
        stats.byClass[cls!]++;
      }
      const line = `${head}${key},${custId},${orderDate},${sd},${dd},${sales},${qty},${priceText}`;
      lines.push(line);
      if (l === defectLine && cls === 'exact_dup') lines.push(line);
      if (l === defectLine && cls === 'conflict') {
        // same order and product, another quantity (and so sales): written at the end of the order
        const q2 = qty + 1 + rng.int(2);
        conflictLine = `${head}${key},${custId},${od},${sd},${dd},${q2 * price},${q2},${price}`;
      }
    }
    if (cls === 'unknown_customer') {
      stats.byClass.unknown_customer += nLines;
      stats.unknownCustomerOrders++;
    }
    stats.orders++;
    let first = true;
    for (const line of lines) {
      ctx.unitStart = first;
      ctx.plain = cls === undefined;
      first = false;
      stats.lines++;
      yield line;
    }
    if (conflictLine !== undefined) {
      ctx.unitStart = false;
      ctx.plain = false;
      stats.lines++;
      yield conflictLine;
    }
    const written = lines.length + (conflictLine === undefined ? 0 : 1);
    if (written > stats.maxLinesPerOrder) stats.maxLinesPerOrder = written;
  }
}
