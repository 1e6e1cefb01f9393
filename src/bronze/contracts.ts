/**
 * The data contract of the six source files: the one place that the loader, the generator and
 * the docs read. A file's name without `.csv` is its bronze table's name; its header, lower-cased,
 * gives the bronze column names. See ../shared/docs/sources.md for the known defects of each file.
 */

export interface SourceContract {
  /** Bronze table name and file stem: `cust_info` is loaded from `cust_info.csv`. */
  readonly name: SourceName;
  readonly file: string;
  /** The source system the export comes from. */
  readonly system: 'crm' | 'erp';
  /** The header exactly as the real exports spell it. */
  readonly header: readonly string[];
  /**
   * The columns that identify a record in the source (as in `header`), the grain silver dedups on:
   * the key a changed file is diffed by (changes.ts). Not enforced in bronze: duplicated and empty
   * keys are data (sources.md), so the diff compares per key the multiset of its rows.
   */
  readonly keyColumns: readonly string[];
  readonly description: string;
  /**
   * Columns (as in `header`) whose quoted values may hold a line break (CR or LF). Elsewhere a
   * quoted value that spans lines is rejected, each of its lines (RECORD_LINE_BREAK_IN_FIELD).
   */
  readonly lineBreakColumns: readonly string[];
  /** A required source must load at least one row: an empty one fails the run (BRONZE_SOURCE_EMPTY). */
  readonly required: boolean;
}

export type SourceName = 'cust_info' | 'cust_az12' | 'loc_a101' | 'prd_info' | 'px_cat_g1v2' | 'sales_details';

/** None of the six exports has a free-text column that holds line breaks, and all six are required. */
function contract(c: Omit<SourceContract, 'file' | 'lineBreakColumns' | 'required'> & Partial<Pick<SourceContract, 'lineBreakColumns' | 'required'>>): SourceContract {
  return Object.freeze({ lineBreakColumns: [], required: true, ...c, file: `${c.name}.csv` });
}

export const SOURCE_CONTRACTS: readonly SourceContract[] = Object.freeze([
  contract({
    name: 'cust_info',
    system: 'crm',
    header: ['cst_id', 'cst_key', 'cst_firstname', 'cst_lastname', 'cst_marital_status', 'cst_gndr', 'cst_create_date'],
    keyColumns: ['cst_id'],
    description: 'CRM customers: id, key, names, marital status, gender and record creation date.',
  }),
  contract({
    name: 'cust_az12',
    system: 'erp',
    header: ['CID', 'BDATE', 'GEN'],
    keyColumns: ['CID'],
    description: 'ERP customer demographics: birthdate and gender, keyed by the CRM key (sometimes NAS-prefixed).',
  }),
  contract({
    name: 'loc_a101',
    system: 'erp',
    header: ['CID', 'CNTRY'],
    keyColumns: ['CID'],
    description: 'ERP customer location: country, keyed by the CRM key with a dash after the letters.',
  }),
  contract({
    name: 'prd_info',
    system: 'crm',
    header: ['prd_id', 'prd_key', 'prd_nm', 'prd_cost', 'prd_line', 'prd_start_dt', 'prd_end_dt'],
    keyColumns: ['prd_id'],
    description: 'CRM products, one row per version: category-prefixed key, name, cost, line and start date.',
  }),
  contract({
    name: 'px_cat_g1v2',
    system: 'erp',
    header: ['ID', 'CAT', 'SUBCAT', 'MAINTENANCE'],
    keyColumns: ['ID'],
    description: 'ERP product categories: category, subcategory and maintenance flag per category id.',
  }),
  contract({
    name: 'sales_details',
    system: 'crm',
    header: ['sls_ord_num', 'sls_prd_key', 'sls_cust_id', 'sls_order_dt', 'sls_ship_dt', 'sls_due_dt', 'sls_sales', 'sls_quantity', 'sls_price'],
    keyColumns: ['sls_ord_num', 'sls_prd_key'],
    description: 'CRM sales lines: order number, product key, customer id, YYYYMMDD dates, sales, quantity and price.',
  }),
]);

export function contractFor(name: string): SourceContract | undefined {
  return SOURCE_CONTRACTS.find((c) => c.name === name);
}

/** Bronze column names: the header lower-cased. */
export function bronzeColumns(c: SourceContract): string[] {
  return c.header.map((h) => h.toLowerCase());
}

/** Per column of a file (its header order, lower case): whether a quoted value may hold a line break. */
export function lineBreaksByColumn(c: SourceContract, fileColumns: readonly string[]): boolean[] {
  const allowed = new Set(c.lineBreakColumns.map((h) => h.toLowerCase()));
  return fileColumns.map((col) => allowed.has(col));
}

/** Bronze key column names (`keyColumns` lower-cased): what a changed file is diffed by. */
export function bronzeKeyColumns(c: SourceContract): string[] {
  return c.keyColumns.map((h) => h.toLowerCase());
}

/**
 * `<source>__changes`: the rows that differ between the previous bronze table of a source and the
 * current one (changes.ts); it lives beside the bronze table in the bronze schema.
 */
export const CHANGES_SUFFIX = '__changes';

/**
 * The lineage columns every bronze table carries after the data columns, in the loaded table's
 * order: `_line_number` (written by COPY), then the load's constants (load.ts: missing values,
 * not stored per row). A table loaded with another order is read and written by column name.
 */
export const LINEAGE_COLUMNS = ['_line_number', '_run_id', '_source_file'] as const;
