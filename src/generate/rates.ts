/**
 * The one table of everything the generator injects, with the real counts of
 * ../shared/docs/sources.md (scale 1) as the basis. Stable: the keys are what `_manifest.json`
 * reports and what tests compare silver's rule counts to.
 *
 * Two kinds of classes:
 * - `basis: 'real'`: defects the real exports show. Planned count = max(1, round(real × scale)):
 *   every class occurs at least once, so even a tiny sample exercises every rule.
 * - `basis: 'rate'`: defects real exports have but the real files do not show (orphans,
 *   duplicates, impossible dates, customers without ERP rows). Planned count =
 *   max(1, round(structural-rate × population)); none with `--clean` (rate 0).
 *
 * Every semantic defect sits on its own line (classes take disjoint, exact ranges of a seeded
 * permutation, see prng.ts), so the counts are exact and unambiguous.
 */
import type { SourceName } from '../bronze/index.ts';

export interface DefectClass {
  readonly file: SourceName;
  /** Count in the real files (scale 1), or null for rate-based classes. */
  readonly real: number | null;
  readonly basis: 'real' | 'rate';
  /** What one unit of `count` is. */
  readonly unit: 'rows' | 'lines' | 'groups' | 'customers' | 'orders';
  /** The population the class is drawn from (for rate-based classes). */
  readonly population?: 'customers' | 'orders';
  /** The silver rule(s) expected to count it, where one fits. */
  readonly rule: string | readonly string[] | null;
  readonly description: string;
}

export const DEFECTS = {
  // cust_info
  junk_customer_rows: { file: 'cust_info', real: 4, basis: 'real', unit: 'rows', rule: 'customer_id_invalid', description: 'rows with no cst_id, only a junk cst_key (e.g. SF566, 13451235)' },
  duplicated_customer_ids: { file: 'cust_info', real: 6, basis: 'real', unit: 'rows', rule: 'customer_duplicate_superseded', description: 'superseded extra rows of a duplicated cst_id (older cst_create_date, less complete); `ids` gives the number of ids (real: 5 ids, 11 rows)' },
  padded_names: { file: 'cust_info', real: 29, basis: 'real', unit: 'rows', rule: 'customer_name_trimmed', description: 'first and/or last name with leading/trailing spaces' },
  gender_conflict: { file: 'cust_info', real: 57, basis: 'real', unit: 'customers', rule: 'gender_conflict_crm_kept', description: 'cst_gndr M/F and ERP GEN the opposite (Male/Female)' },
  // cust_az12
  future_birthdate: { file: 'cust_az12', real: 16, basis: 'real', unit: 'rows', rule: 'birthdate_in_future', description: 'BDATE after 2030 (up to 9999-12-31)' },
  birthdate_too_old: { file: 'cust_az12', real: 15, basis: 'real', unit: 'rows', rule: 'birthdate_too_old', description: 'BDATE in 1916-1922: 90+ at the last order date (2014-01-28)' },
  customers_without_erp: { file: 'cust_az12', real: null, basis: 'rate', unit: 'customers', population: 'customers', rule: ['customer_without_erp_demographics', 'customer_without_erp_location'], description: 'CRM customers with no row in cust_az12 nor in loc_a101' },
  // loc_a101
  country_code: { file: 'loc_a101', real: 4657, basis: 'real', unit: 'rows', rule: 'country_normalized', description: 'CNTRY spelt USA (2591), US (1500) or DE (566)' },
  country_missing: { file: 'loc_a101', real: 337, basis: 'real', unit: 'rows', rule: 'country_unknown', description: 'CNTRY empty (332) or whitespace-only (5)' },
  // prd_info
  product_end_before_start: { file: 'prd_info', real: 200, basis: 'real', unit: 'rows', rule: 'product_end_date_ignored', description: 'prd_end_dt present and before its own prd_start_dt (every present end date is)' },
  product_cost_missing: { file: 'prd_info', real: 2, basis: 'real', unit: 'rows', rule: 'product_cost_missing', description: 'prd_cost empty (old 2003-07-01 versions of unsold components)' },
  product_category_unknown: { file: 'prd_info', real: 7, basis: 'real', unit: 'rows', rule: 'product_category_unknown', description: 'prd_key prefix CO-PE, which px_cat_g1v2 does not have (it has CO_PD Pedals)' },
  // sales_details
  invalid_order_date: { file: 'sales_details', real: 19, basis: 'real', unit: 'lines', rule: 'order_date_invalid', description: 'sls_order_dt 0 (17/19) or a short number like 32154, 5489; ship and due stay valid' },
  price_missing: { file: 'sales_details', real: 7, basis: 'real', unit: 'lines', rule: 'price_derived', description: 'sls_price empty; sales and quantity valid' },
  price_negative: { file: 'sales_details', real: 5, basis: 'real', unit: 'lines', rule: 'price_negative_abs', description: 'sls_price = -price; sales = quantity x price' },
  sales_missing: { file: 'sales_details', real: 8, basis: 'real', unit: 'lines', rule: 'sales_amount_recomputed', description: 'sls_sales empty; quantity and price valid' },
  sales_negative: { file: 'sales_details', real: 3, basis: 'real', unit: 'lines', rule: 'sales_amount_recomputed', description: 'sls_sales = -(quantity x price)' },
  sales_zero: { file: 'sales_details', real: 2, basis: 'real', unit: 'lines', rule: 'sales_amount_recomputed', description: 'sls_sales = 0' },
  sales_mismatch: { file: 'sales_details', real: 10, basis: 'real', unit: 'lines', rule: 'sales_amount_recomputed', description: 'sls_sales positive but not quantity x price (price positive)' },
  impossible_dates: { file: 'sales_details', real: null, basis: 'rate', unit: 'lines', population: 'orders', rule: 'order_date_invalid', description: '8-digit sls_order_dt that is no calendar date (e.g. 20131345, 20130230); ship and due stay valid' },
  unknown_product_sales: { file: 'sales_details', real: null, basis: 'rate', unit: 'lines', population: 'orders', rule: 'sales_product_unknown', description: 'sls_prd_key not in prd_info (one line of an order)' },
  unknown_customer_sales: { file: 'sales_details', real: null, basis: 'rate', unit: 'lines', population: 'orders', rule: 'sales_customer_unknown', description: 'every line of an order whose sls_cust_id is not in cust_info; `orders` gives the orders' },
  conflicting_duplicate_lines: { file: 'sales_details', real: null, basis: 'rate', unit: 'groups', population: 'orders', rule: 'sales_conflicting_duplicate', description: 'a second line with the same (sls_ord_num, sls_prd_key) and a different quantity and sales; `lines` = 2 x groups' },
  exact_duplicate_lines: { file: 'sales_details', real: null, basis: 'rate', unit: 'lines', population: 'orders', rule: 'sales_exact_duplicate_collapsed', description: 'an identical copy of a line written right after it (count = extra copies)' },
} as const satisfies Record<string, DefectClass>;

export type DefectName = keyof typeof DEFECTS;

/**
 * Attribute distributions of the real files that are not defects but shape the data (planned
 * the same way as real-basis defects, reported under `distributions` in the manifest).
 */
export const DISTRIBUTIONS = {
  erp_gender_blank: { file: 'cust_az12', real: 1476, description: "GEN empty (1472) or whitespace-only (4)" },
  erp_gender_code: { file: 'cust_az12', real: 9, description: "GEN spelt M, F, 'M ' or 'F ' instead of Male/Female" },
  nas_prefixed_ids: { file: 'cust_az12', real: 11042, description: "CID = 'NAS' || cst_key (the rest: plain cst_key)" },
  crm_gender_blank: { file: 'cust_info', real: 4578, description: 'cst_gndr empty' },
  marital_status_blank: { file: 'cust_info', real: 7, description: 'cst_marital_status empty' },
  accented_names: { file: 'cust_info', real: 93, description: 'names with accented letters (NFC UTF-8)' },
  product_line_blank: { file: 'prd_info', real: 17, description: 'prd_line empty (the others carry a trailing space: "R ")' },
} as const;

/**
 * Kinds of structural defect: per kind, the loader's reject reason (null: legal, parses as one
 * record). A newline inside a quoted value is legal CSV, but no column of the six may hold one
 * (the contracts' lineBreakColumns), so the loader rejects each of the record's two lines.
 */
export const STRUCTURAL_KINDS = {
  field_missing: 'RECORD_FIELD_COUNT',
  quoted_comma: null,
  unclosed_quote: 'RECORD_UNCLOSED_QUOTE',
  quoted_newline: 'RECORD_LINE_BREAK_IN_FIELD',
  field_extra: 'RECORD_FIELD_COUNT',
  quoted_doubled_quote: null,
  invalid_quote: 'RECORD_INVALID_QUOTE',
  quoted_plain: null,
  invalid_utf8: 'RECORD_INVALID_UTF8',
  nul_byte: 'RECORD_NUL_BYTE',
} as const;

export type StructuralKind = keyof typeof STRUCTURAL_KINDS;
export const REJECT_REASONS = ['RECORD_FIELD_COUNT', 'RECORD_UNCLOSED_QUOTE', 'RECORD_INVALID_QUOTE', 'RECORD_LINE_BREAK_IN_FIELD', 'RECORD_INVALID_UTF8', 'RECORD_NUL_BYTE'] as const;
export type RejectReasonCode = (typeof REJECT_REASONS)[number];

/** Default fraction of records with a structural defect (also the rate of the rate-based classes). */
export const DEFAULT_STRUCTURAL_RATE = 0.0005;

/** Real sizes at scale 1 (sources.md). */
export const REAL_SIZES = {
  customers: 18484,
  orders: 27659,
  salesLines: 60398,
  productKeys: 295,
  productVersions: 397,
  categories: 37,
} as const;

/** Planned count of a real-basis class or distribution. */
export function scaledReal(real: number, scale: number): number {
  return real === 0 ? 0 : Math.max(1, Math.round(real * scale));
}

/** Planned count of a rate-based class. */
export function scaledRate(rate: number, population: number): number {
  return rate > 0 ? Math.max(1, Math.round(rate * population)) : 0;
}

/**
 * Structural defects planned for one file of `units` units (records; orders for sales): in total
 * round(rate × units), spread over the kinds in the order of STRUCTURAL_KINDS. With `text`, the file
 * has a free-text column and gets at least one quoted comma and doubled quote (legal RFC 4180
 * quoting); a newline inside quotes, a reject of two lines, comes at the rate like the other
 * rejected kinds (a forced one would pass the default 1% reject rate of a small prd_info). Without
 * `text`, those three become plain quoted fields.
 */
export function plannedStructural(rate: number, units: number, text: boolean): Record<StructuralKind, number> {
  const kinds = Object.keys(STRUCTURAL_KINDS) as StructuralKind[];
  const total = rate > 0 ? Math.round(rate * units) : 0;
  const out = Object.fromEntries(kinds.map((k, i) => [k, Math.floor(total / kinds.length) + (i < total % kinds.length ? 1 : 0)])) as Record<StructuralKind, number>;
  if (rate > 0) {
    if (text) {
      for (const k of ['quoted_comma', 'quoted_doubled_quote'] as const) out[k] = Math.max(1, out[k]);
    } else {
      out.quoted_plain += out.quoted_comma + out.quoted_newline + out.quoted_doubled_quote;
      out.quoted_comma = out.quoted_newline = out.quoted_doubled_quote = 0;
    }
    out.quoted_plain = Math.max(1, out.quoted_plain);
  }
  return out;
}
