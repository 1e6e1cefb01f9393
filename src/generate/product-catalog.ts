/**
 * Products and categories: small (a few thousand rows at most), built in memory from the seed.
 *
 * SUBCATEGORIES declares the shape of the real catalogue: per subcategory its ERP id (`AC_BC`), the
 * CRM key prefix (`AC-BC`, dash), the number of prd_info rows in the real file (used as weight), the
 * family codes of the sales keys, the price range and whether (and from when) it sells.
 */
import { type Rng, rngFor } from './prng.ts';
import { REAL_SIZES } from './rates.ts';

type Style = 'bike' | 'frame' | 'sized' | 'color' | 'simple';

interface SubcategoryDef {
  id: string;
  cat: string;
  subcat: string;
  maintenance: 'Yes' | 'No';
  /** prd_info rows with this prefix in the real file. */
  rows: number;
  style: Style;
  codes: string[];
  stems: string[];
  line: string;
  price: [number, number];
  /** Sold from this date (YYYY-MM-DD); null: never sold. */
  sellFrom: string | null;
  /** Relative share of sales lines (real line counts of its key families). */
  salesWeight: number;
  /** The prd_key prefix differs from the id (CO-PE products vs CO_PD in px_cat_g1v2). */
  prefix?: string;
  /** Listed in px_cat_g1v2 (default true). */
  inCategoryFile?: boolean;
}

const BIKES = '2010-07-01';
const ACC = '2012-12-28';
const s = (id: string, cat: string, subcat: string, maintenance: 'Yes' | 'No', rows: number, style: Style, codes: string[], stems: string[], line: string, price: [number, number], sellFrom: string | null = null, salesWeight = 0, extra: Partial<SubcategoryDef> = {}): SubcategoryDef => ({ id, cat, subcat, maintenance, rows, style, codes, stems, line, price, sellFrom, salesWeight, ...extra });

export const SUBCATEGORIES: readonly SubcategoryDef[] = [
  s('AC_BR', 'Accessories', 'Bike Racks', 'Yes', 1, 'simple', ['RA'], ['Hitch Rack - 4-Bike'], 'S ', [120, 120], ACC, 328),
  s('AC_BS', 'Accessories', 'Bike Stands', 'No', 1, 'simple', ['ST'], ['All-Purpose Bike Stand'], 'M ', [159, 159], ACC, 249),
  s('AC_BC', 'Accessories', 'Bottles and Cages', 'No', 3, 'simple', ['WB', 'BC'], ['Water Bottle - 30 oz.', 'Mountain Bottle Cage', 'Road Bottle Cage'], 'S ', [5, 10], ACC, 7981),
  s('AC_CL', 'Accessories', 'Cleaners', 'Yes', 1, 'simple', ['CL'], ['Bike Wash - Dissolver'], 'S ', [8, 8], ACC, 908),
  s('AC_FE', 'Accessories', 'Fenders', 'No', 1, 'simple', ['FE'], ['Fender Set - Mountain'], 'M ', [22, 22], ACC, 2121),
  s('AC_HE', 'Accessories', 'Helmets', 'Yes', 9, 'color', ['HL'], ['Sport-100 Helmet', 'Sport-200 Helmet', 'Trail Helmet'], 'S ', [35, 35], ACC, 6440),
  s('AC_HP', 'Accessories', 'Hydration Packs', 'No', 1, 'simple', ['HY'], ['Hydration Pack - 70 oz.'], 'S ', [55, 55], ACC, 733),
  s('AC_LI', 'Accessories', 'Lights', 'Yes', 3, 'simple', ['LT'], ['Headlights - Dual-Beam', 'Headlights - Weatherproof', 'Taillights - Battery-Powered'], 'R ', [14, 45]),
  s('AC_LO', 'Accessories', 'Locks', 'Yes', 1, 'simple', ['LO'], ['Cable Lock'], 'S ', [25, 25]),
  s('AC_PA', 'Accessories', 'Panniers', 'No', 1, 'simple', ['PA'], ['Touring-Panniers- Large'], 'T ', [125, 125]),
  s('AC_PU', 'Accessories', 'Pumps', 'Yes', 2, 'simple', ['PU'], ['Minipump', 'Mountain Pump'], 'M ', [20, 25]),
  s('AC_TT', 'Accessories', 'Tires and Tubes', 'Yes', 11, 'simple', ['TI', 'TT', 'PK'], ['Road Tire', 'Mountain Tire', 'Touring Tire', 'Tire Tube', 'Patch Kit/8 Patches'], 'M ', [2, 35], ACC, 17332),
  s('BI_MB', 'Bikes', 'Mountain Bikes', 'Yes', 38, 'bike', ['BK'], ['Mountain'], 'M ', [540, 3400], BIKES, 4200),
  s('BI_RB', 'Bikes', 'Road Bikes', 'Yes', 65, 'bike', ['BK'], ['Road'], 'R ', [540, 3578], BIKES, 7000),
  s('BI_TB', 'Bikes', 'Touring Bikes', 'Yes', 22, 'bike', ['BK'], ['Touring'], 'T ', [742, 2384], BIKES, 2600),
  s('CL_BS', 'Clothing', 'Bib-Shorts', 'No', 3, 'sized', ['SB'], ["Men's Bib-Shorts"], 'S ', [90, 90]),
  s('CL_CA', 'Clothing', 'Caps', 'No', 3, 'simple', ['CA'], ['AWC Logo Cap'], 'S ', [9, 9], ACC, 2190),
  s('CL_GL', 'Clothing', 'Gloves', 'No', 9, 'sized', ['GL'], ['Half-Finger Gloves', 'Full-Finger Gloves'], 'S ', [24, 38], ACC, 1430),
  s('CL_JE', 'Clothing', 'Jerseys', 'No', 16, 'sized', ['LJ', 'SJ'], ['Long-Sleeve Logo Jersey', 'Short-Sleeve Classic Jersey'], 'S ', [50, 54], ACC, 3332),
  s('CL_SH', 'Clothing', 'Shorts', 'No', 7, 'sized', ['SH'], ["Men's Sports Shorts", "Women's Mountain Shorts"], 'S ', [60, 70], ACC, 1019),
  s('CL_SO', 'Clothing', 'Socks', 'No', 4, 'sized', ['SO'], ['Racing Socks', 'Mountain Bike Socks'], 'M ', [9, 9], ACC, 568),
  s('CL_TI', 'Clothing', 'Tights', 'No', 3, 'sized', ['TG'], ["Women's Tights"], 'S ', [75, 75]),
  s('CL_VE', 'Clothing', 'Vests', 'No', 3, 'sized', ['VE'], ['Classic Vest'], 'S ', [64, 64], ACC, 562),
  s('CO_BB', 'Components', 'Bottom Brackets', 'Yes', 3, 'simple', ['BB'], ['Bottom Bracket'], 'M ', [54, 121]),
  s('CO_BR', 'Components', 'Brakes', 'Yes', 2, 'simple', ['FB', 'RB'], ['Front Brakes', 'Rear Brakes'], 'R ', [106, 106]),
  s('CO_CH', 'Components', 'Chains', 'Yes', 1, 'simple', ['CH'], ['Chain'], 'R ', [21, 21]),
  s('CO_CS', 'Components', 'Cranksets', 'Yes', 3, 'simple', ['CS'], ['Crankset'], 'R ', [175, 405]),
  s('CO_DE', 'Components', 'Derailleurs', 'Yes', 2, 'simple', ['FD', 'RD'], ['Front Derailleur', 'Rear Derailleur'], 'R ', [91, 122]),
  s('CO_FO', 'Components', 'Forks', 'Yes', 3, 'simple', ['FK'], ['Fork'], 'S ', [149, 230]),
  s('CO_HB', 'Components', 'Handlebars', 'No', 14, 'simple', ['HB'], ['Road Handlebars', 'Mountain Handlebars', 'Touring Handlebars'], 'R ', [44, 121]),
  s('CO_HS', 'Components', 'Headsets', 'No', 3, 'simple', ['HS'], ['Headset'], 'R ', [35, 125]),
  s('CO_MF', 'Components', 'Mountain Frames', 'Yes', 40, 'frame', ['FR'], ['Mountain'], 'M ', [264, 1365]),
  s('CO_PD', 'Components', 'Pedals', 'No', 0, 'simple', ['PD'], ['Pedal'], 'M ', [40, 81]),
  s('CO_RF', 'Components', 'Road Frames', 'Yes', 70, 'frame', ['FR'], ['Road'], 'R ', [337, 1432]),
  s('CO_SA', 'Components', 'Saddles', 'No', 9, 'simple', ['SE'], ['Road Seat Saddle', 'Mountain Seat/Saddle', 'Touring Seat/Saddle'], 'R ', [27, 53]),
  s('CO_TF', 'Components', 'Touring Frames', 'Yes', 18, 'frame', ['FR'], ['Touring'], 'T ', [333, 1003]),
  s('CO_WH', 'Components', 'Wheels', 'Yes', 14, 'simple', ['FW', 'RW'], ['Road Front Wheel', 'Mountain Rear Wheel', 'Touring Front Wheel'], 'R ', [42, 330]),
  // Pedal products carry the prefix CO-PE, which px_cat_g1v2 does not know (it has CO_PD). They have
  // one version each, so their weight is set to give the real 7 rows (7 keys) at scale 1.
  s('CO_PE', 'Components', 'Pedals', 'No', 9.4, 'simple', ['PD'], ['Road Pedal', 'Mountain Pedal', 'Touring Pedal'], 'R ', [40, 81], null, 0, { inCategoryFile: false }),
];

/** Extra subcategories for scales above 1 (categories grow slowly). */
const EXTRA_SUBCATEGORIES: readonly [string, string, string][] = [
  ['AC', 'Bells', 'BE'], ['AC', 'Mirrors', 'MI'], ['AC', 'Computers', 'CM'], ['AC', 'Baskets', 'BA'], ['AC', 'Kickstands', 'KS'],
  ['AC', 'Tools', 'TO'], ['AC', 'Bags', 'BG'], ['CL', 'Jackets', 'JA'], ['CL', 'Shoes', 'SS'], ['CL', 'Arm Warmers', 'AW'],
  ['CO', 'Cassettes', 'CT'], ['CO', 'Grips', 'GR'], ['CO', 'Seatposts', 'SP'], ['CO', 'Rims', 'RM'], ['CO', 'Spokes', 'SK'],
  ['BI', 'Electric Bikes', 'EB'], ['BI', 'Kids Bikes', 'KB'], ['AC', 'Trainers', 'TR'], ['CL', 'Rain Capes', 'RC'], ['AC', 'Child Seats', 'CS'],
];
const CATEGORY_NAMES: Record<string, string> = { AC: 'Accessories', BI: 'Bikes', CL: 'Clothing', CO: 'Components' };
const EXTRA_CODES = ['XB', 'XM', 'XC', 'XK', 'XS', 'XT', 'XG', 'XJ', 'XH', 'XW', 'XA', 'XP', 'XE', 'XR', 'XN', 'XL', 'XD', 'XV', 'XY', 'XZ'];

export interface CategoryRow {
  id: string;
  cat: string;
  subcat: string;
  maintenance: string;
}

export interface ProductVersion {
  prdId: number;
  start: string;
  end: string;
  cost: string;
  /** Start as a day number (days since 1970-01-01). */
  startDay: number;
}

export interface Product {
  /** Index in `products`. */
  index: number;
  /** Full CRM key, category prefix included: `BI-RB-BK-R93R-62`. */
  prdKey: string;
  /** The key sales use: `BK-R93R-62`. */
  salesKey: string;
  name: string;
  line: string;
  versions: ProductVersion[];
  sub: SubcategoryDef;
  sellable: boolean;
  /** First day it can be sold (day number), Infinity if never. */
  sellFromDay: number;
  /** Weight among the products that sell. */
  weight: number;
  /** Sales price by calendar year (index year - 2010). */
  prices: number[];
}

export interface Catalog {
  categories: CategoryRow[];
  products: Product[];
  productKeys: Set<string>;
}

export const dayNumber = (iso: string): number => Date.UTC(Number(iso.slice(0, 4)), Number(iso.slice(5, 7)) - 1, Number(iso.slice(8, 10))) / 86400000;

/** Number of product keys for a scale: 295 at scale 1, slow growth, capped at 3000. */
export function productCount(scale: number): number {
  if (scale <= 1) return Math.max(60, Math.round(REAL_SIZES.productKeys * scale ** 0.25));
  return Math.min(3000, Math.round(REAL_SIZES.productKeys * scale ** 0.3));
}

/** Number of extra subcategories above the real 37: 8 per factor of 10 in scale. */
export function extraCategoryCount(scale: number): number {
  return scale <= 1 ? 0 : Math.min(EXTRA_SUBCATEGORIES.length, Math.round(8 * Math.log10(scale)));
}

const COLORS: [string, string][] = [['Black', 'B'], ['Red', 'R'], ['Silver', 'S'], ['Yellow', 'Y'], ['Blue', 'U'], ['White', 'W']];
const BIKE_SIZES = ['38', '40', '42', '44', '46', '48', '50', '52', '54', '56', '58', '60', '62'];
const APPAREL_SIZES: [string, string][] = [['S', 'S'], ['M', 'M'], ['L', 'L'], ['XL', 'X']];
const GRADES = ['LL', 'ML', 'HL'];

/** Builds the catalogue for a scale and seed. Pure. */
export function buildCatalog(scale: number, seed: number): Catalog {
  const rng = rngFor(seed, 'catalog');
  const subs: SubcategoryDef[] = [...SUBCATEGORIES];
  const extras = extraCategoryCount(scale);
  for (let i = 0; i < extras; i++) {
    const [cat, subcat, code] = EXTRA_SUBCATEGORIES[i]!;
    const sold = cat !== 'CO';
    subs.push(s(`${cat}_${code}`, CATEGORY_NAMES[cat]!, subcat, i % 2 ? 'No' : 'Yes', 6, cat === 'BI' ? 'bike' : cat === 'CL' ? 'sized' : 'simple', [cat === 'BI' ? 'BK' : EXTRA_CODES[i]!], [cat === 'BI' ? subcat.split(' ')[0]! : subcat], 'S ', cat === 'BI' ? [600, 2600] : [10, 150], sold ? ACC : null, sold ? 400 : 0));
  }
  const categories: CategoryRow[] = subs.filter((d) => d.inCategoryFile !== false).map((d) => ({ id: d.id, cat: d.cat, subcat: d.subcat, maintenance: d.maintenance }));

  // product keys per subcategory: largest remainder over the real row counts, at least 1 each
  const target = productCount(scale);
  const withRows = subs.filter((d) => d.rows > 0);
  const totalRows = withRows.reduce((a, d) => a + d.rows, 0);
  const quotas = withRows.map((d) => (target * d.rows) / totalRows);
  const alloc = quotas.map((q) => Math.max(1, Math.floor(q)));
  let left = target - alloc.reduce((a, b) => a + b, 0);
  const order = quotas.map((q, i) => [q - Math.floor(q), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0 && k < order.length; k++, left--) alloc[order[k]![1]]!++;

  const used = new Set<string>();
  const drafts: { sub: SubcategoryDef; salesKey: string; name: string; basePrice: number }[] = [];
  withRows.forEach((sub, i) => {
    const n = alloc[i]!;
    let made = 0;
    let model = 0;
    while (made < n) {
      model++;
      for (const v of modelVariants(sub, rng, model, used)) {
        if (made >= n) break;
        drafts.push({ sub, ...v });
        made++;
      }
    }
  });
  rng.shuffle(drafts);

  const products: Product[] = [];
  let prdId = 210;
  const singleWithEnd = 98 / 218;
  const earlyBikes = new Set<string>();
  for (const d of drafts) {
    const sub = d.sub;
    // CO-PE rows carry one defect only (unknown category): a single version without end date
    const unknownCategory = sub.inCategoryFile === false;
    // versions: 1 (218 of 295 keys), 2 (52) or 3 (25); a multi-version product's latest starts
    // 2013-07-01; single versions start 2011-2013 (bikes also 2010, and the first product of each
    // bike subcategory always 2010, so that bikes sell from the first order day)
    const firstBike = sub.sellFrom === BIKES && !earlyBikes.has(sub.id);
    if (firstBike) earlyBikes.add(sub.id);
    const n = unknownCategory || firstBike ? 1 : 1 + rng.weighted([218, 52, 25]);
    const firstYear = firstBike ? 2010 : n > 1 ? 2014 - n : sub.sellFrom === BIKES ? 2010 + rng.weighted([30, 30, 20, 20]) : 2011 + rng.weighted([47, 51, 118]);
    const costRatio = sub.cat === 'Bikes' ? 0.55 + rng.next() * 0.1 : 0.35 + rng.next() * 0.15;
    const baseCost = Math.max(1, Math.round(d.basePrice * costRatio));
    const versions: ProductVersion[] = [];
    for (let v = 0; v < n; v++) {
      const year = firstYear + v;
      const start = `${year}-07-01`;
      const last = v === n - 1;
      const end = !last || (n === 1 && !unknownCategory && rng.chance(singleWithEnd)) ? `${year - 4}-12-${String(28 - v).padStart(2, '0')}` : '';
      const cost = String(Math.max(1, Math.round(baseCost * (0.9 + rng.next() * 0.2))));
      versions.push({ prdId: prdId++, start, end, cost, startDay: dayNumber(start) });
    }
    const sellable = sub.sellFrom !== null;
    const sellFromDay = sellable ? Math.max(dayNumber(sub.sellFrom!), versions[0]!.startDay) : Number.POSITIVE_INFINITY;
    // yearly price changes (1 January): a small drift per calendar year 2010..2014
    const prices: number[] = [];
    let p = d.basePrice;
    for (let y = 0; y < 5; y++) {
      prices.push(Math.max(1, Math.round(p)));
      if (rng.chance(0.25)) p *= 0.95 + rng.next() * 0.12;
    }
    const u = rng.next();
    products.push({
      index: products.length,
      prdKey: `${(sub.prefix ?? sub.id).replace('_', '-')}-${d.salesKey}`,
      salesKey: d.salesKey,
      name: d.name,
      line: sub.line,
      versions,
      sub,
      sellable,
      sellFromDay,
      weight: sellable ? 0.2 + u * u * 3 : 0,
      prices,
    });
  }
  // a blank product line on about 17 of 397 rows (per product key here)
  for (const p of products) if (rng.chance(17 / 397)) p.line = '';
  // product_cost_missing: old 2003-07-01 versions with no cost, on unsold single-version products
  const costMissing = Math.max(1, Math.round(2 * Math.max(scale, target / REAL_SIZES.productKeys) ** 0.3));
  let assigned = 0;
  for (const p of products) {
    if (assigned >= costMissing) break;
    if (p.sellable || p.versions.length !== 1 || p.sub.inCategoryFile === false) continue;
    const v = p.versions[0]!;
    v.start = '2003-07-01';
    v.startDay = dayNumber(v.start);
    v.end = '';
    v.cost = '';
    assigned++;
  }
  // normalise the weights per subcategory so each carries its salesWeight
  const bySub = new Map<SubcategoryDef, Product[]>();
  for (const p of products) if (p.sellable) bySub.set(p.sub, [...(bySub.get(p.sub) ?? []), p]);
  for (const [sub, list] of bySub) {
    const total = list.reduce((a, p) => a + p.weight, 0);
    for (const p of list) p.weight = (p.weight / total) * sub.salesWeight;
  }
  return { categories, products, productKeys: new Set(products.map((p) => p.salesKey)) };
}

function modelVariants(sub: SubcategoryDef, rng: Rng, model: number, used: Set<string>): { salesKey: string; name: string; basePrice: number }[] {
  const out: { salesKey: string; name: string; basePrice: number }[] = [];
  const code = rng.pick(sub.codes);
  const stem = rng.pick(sub.stems);
  const basePrice = rng.range(sub.price[0], sub.price[1]);
  const add = (salesKey: string, name: string, price = basePrice) => {
    if (used.has(salesKey)) return;
    used.add(salesKey);
    out.push({ salesKey, name, basePrice: price });
  };
  const letter = stem[0]!.toUpperCase();
  switch (sub.style) {
    case 'bike':
    case 'frame': {
      const num = rng.range(1, 9) * 100 + rng.pick([0, 50]);
      const nn = String(rng.range(10, 99));
      const colors = rng.shuffle([...COLORS]).slice(0, 1 + rng.int(2));
      const first = rng.int(BIKE_SIZES.length - 3);
      const sizes = BIKE_SIZES.slice(first, first + 3 + rng.int(3));
      const grade = GRADES[Math.min(2, Math.floor(num / 300))]!;
      for (const [color, c] of colors) {
        for (const size of sizes) {
          if (sub.style === 'bike') add(`${code}-${letter}${nn}${c}-${size}`, `${stem}-${num} ${color}- ${size}`);
          else add(`${code}-${letter}${nn}${c}-${size}`, `${grade} ${stem} Frame - ${color}- ${size}`);
        }
      }
      break;
    }
    case 'sized': {
      const num = String(rng.range(100, 9999)).padStart(4, '0');
      for (const [size, c] of APPAREL_SIZES.slice(rng.int(2))) add(`${code}-${num}-${c}`, `${stem}- ${size}`);
      break;
    }
    case 'color': {
      const num = `${letter}${rng.range(100, 999)}`;
      add(`${code}-${num}`, `${stem}- Black`);
      for (const [color, c] of rng.shuffle([...COLORS.slice(1)]).slice(0, 2)) add(`${code}-${num}-${c}`, `${stem}- ${color}`);
      break;
    }
    default: {
      const grade = sub.cat === 'Components' ? `${rng.pick(GRADES)} ` : '';
      const num = rng.chance(0.5) ? String(rng.range(1000, 9999)) : `${letter}${rng.range(100, 999)}`;
      add(`${code}-${num}`, model > 1 && !grade ? `${stem} ${model}` : `${grade}${stem}`);
    }
  }
  return out;
}

/** An unknown product key in the format of the real ones, not in the catalogue. */
export function unknownProductKey(rng: Rng, known: Set<string>): string {
  for (;;) {
    const key = rng.chance(0.5) ? `BK-Z${rng.range(10, 99)}${rng.pick(COLORS)[1]}-${rng.pick(BIKE_SIZES)}` : `${rng.pick(['TI', 'HL', 'WB', 'GL'])}-Q${rng.range(100, 999)}`;
    if (!known.has(key)) return key;
  }
}
