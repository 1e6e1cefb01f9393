/**
 * The one table that decides how a Postgres column becomes a Parquet column, and what pandas makes
 * of it. Everything else in the export (the DuckDB types and casts in parquet-encoder.ts, the
 * manifest, the README's dtype table, test/consumers/check_exports.py) follows from `kindOf`.
 *
 * pandas rules we rely on (pandas >= 2 with pyarrow, checked with pandas 3.1 / pyarrow 26):
 * - Parquet DATE comes back as `object` (datetime.date) — so dates are written as TIMESTAMP(ms),
 *   not-UTC-adjusted, which `read_parquet` gives as `datetime64[ms]`.
 * - INT64 with NULLs comes back as float64 unless the file's `pandas` metadata names the nullable
 *   dtype; we write that metadata (numpy_type `Int64` / `boolean`) for columns that may be NULL, so
 *   plain `read_parquet` gives `Int64` / `boolean`, and `int64` / `bool` for NOT NULL columns.
 */
import { type Client, ident, literal } from '../db/index.ts';
import { DataError } from '../errors.ts';

/** Which Parquet type a Postgres column becomes (parquet-encoder.ts decides how DuckDB reads it). */
export type ColumnKind = 'int64' | 'float64' | 'bool' | 'date' | 'timestamp' | 'timestamptz' | 'string';

export interface KindSpec {
  /** The Parquet physical type and logical annotation written. */
  parquet: string;
  /** The Arrow type pyarrow reads it as (recorded in the manifest). */
  arrow: string;
  /** pandas dtype from `pandas.read_parquet` when the column is NOT NULL / may be NULL. */
  pandas: { notNull: string; nullable: string };
  /** pandas metadata (`pandas_type`, `numpy_type` when nullable) written into every file. */
  pandasType: string;
}

export const KINDS: Record<ColumnKind, KindSpec> = {
  int64: { parquet: 'INT64', arrow: 'Int64', pandas: { notNull: 'int64', nullable: 'Int64' }, pandasType: 'int64' },
  float64: { parquet: 'DOUBLE', arrow: 'Float64', pandas: { notNull: 'float64', nullable: 'float64' }, pandasType: 'float64' },
  bool: { parquet: 'BOOLEAN', arrow: 'Bool', pandas: { notNull: 'bool', nullable: 'boolean' }, pandasType: 'bool' },
  date: {
    parquet: 'INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=false)', arrow: 'Timestamp<ms>',
    pandas: { notNull: 'datetime64[ms]', nullable: 'datetime64[ms]' }, pandasType: 'datetime',
  },
  timestamp: {
    parquet: 'INT64 TIMESTAMP(MICROS, isAdjustedToUTC=false)', arrow: 'Timestamp<us>',
    pandas: { notNull: 'datetime64[us]', nullable: 'datetime64[us]' }, pandasType: 'datetime',
  },
  timestamptz: {
    parquet: 'INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true)', arrow: 'Timestamp<us, UTC>',
    pandas: { notNull: 'datetime64[us, UTC]', nullable: 'datetime64[us, UTC]' }, pandasType: 'datetimetz',
  },
  string: { parquet: 'BYTE_ARRAY STRING', arrow: 'Utf8', pandas: { notNull: 'str', nullable: 'str' }, pandasType: 'unicode' },
};

/**
 * Postgres type (as `format_type` prints it, without modifiers) → kind. Money and ratios
 * (numeric, double, real) become float64: pandas users want arithmetic, not `Decimal` objects.
 * All integers become int64 (ids and counts; int32 would save little after compression).
 */
const PG_TO_KIND: Record<string, ColumnKind> = {
  smallint: 'int64',
  integer: 'int64',
  bigint: 'int64',
  numeric: 'float64',
  'double precision': 'float64',
  real: 'float64',
  boolean: 'bool',
  date: 'date',
  'timestamp without time zone': 'timestamp',
  'timestamp with time zone': 'timestamptz',
  text: 'string',
  'character varying': 'string',
  character: 'string',
  name: 'string',
  uuid: 'string',
};

/**
 * What the project's .yml says of a column (its description, its `meta.role`), written beside its
 * type into each file's `medallion.columns` and the manifest. The export reads no .yml: the caller
 * passes these (src/transform reads them).
 */
export interface ColumnDoc {
  description?: string;
  /** key, feature, lifetime, label or attribute (src/transform/types.ts, ColumnRole). */
  role?: string;
  /** The model's .yml leaves the column out of the export (`config.meta.export.leave_out`); it stays in PostgreSQL. */
  leaveOut?: boolean;
}

/**
 * The role whose columns the export leaves out unless asked: they use information after the row's
 * time. The columns a .yml declares (ColumnDoc.leaveOut) are left out as well, always.
 */
export const LIFETIME_ROLE = 'lifetime';

export interface ExportColumn {
  name: string;
  /** `format_type(atttypid, atttypmod)`, e.g. `numeric(12,2)`. */
  pgType: string;
  notNull: boolean;
  kind: ColumnKind;
}

/** Maps a `format_type` string to its kind, or undefined when the export does not support it. */
export function kindOf(pgType: string): ColumnKind | undefined {
  const base = pgType.replace(/\(.*\)/, '').replace(/\[\]$/, '[]').trim();
  return PG_TO_KIND[base];
}

export function pandasDtype(col: Pick<ExportColumn, 'kind' | 'notNull'>): string {
  const spec = KINDS[col.kind];
  return col.notNull ? spec.pandas.notNull : spec.pandas.nullable;
}

/** Reads the columns of a table or view in their catalog order, with their exported kinds. */
export async function readColumns(client: Client, schema: string, table: string): Promise<ExportColumn[]> {
  const { rows } = await client.query<{ name: string; pg_type: string; not_null: boolean }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as pg_type, a.attnotnull as not_null
       from pg_attribute a
      where a.attrelid = (${literal(`${ident(schema)}.${ident(table)}`)})::regclass
        and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
  );
  if (rows.length === 0) {
    throw new DataError('EXPORT_FAILED', `${schema}.${table} has no columns to export`, { hint: 'Build the model before exporting it.' });
  }
  const unsupported: string[] = [];
  const columns = rows.map((r) => {
    const kind = kindOf(r.pg_type);
    if (!kind) unsupported.push(`${r.name} (${r.pg_type})`);
    return { name: r.name, pgType: r.pg_type, notNull: r.not_null, kind: kind ?? 'string' };
  });
  if (unsupported.length) {
    throw new DataError('EXPORT_FAILED', `${schema}.${table}: no Parquet mapping for ${unsupported.join(', ')}`, {
      hint: 'Cast the column in the model to one of the types in src/export/types.ts, or add a mapping there.',
    });
  }
  return columns;
}

/**
 * The `pandas` key-value metadata that makes plain `pandas.read_parquet` restore nullable integer
 * and boolean columns as `Int64` / `boolean` instead of float64 / object. No index is stored.
 */
export function pandasMetadata(columns: readonly ExportColumn[], creatorVersion: string): string {
  return JSON.stringify({
    index_columns: [],
    column_indexes: [],
    columns: columns.map((c) => ({
      name: c.name,
      field_name: c.name,
      pandas_type: KINDS[c.kind].pandasType,
      numpy_type: pandasDtype(c) === 'str' ? 'object' : pandasDtype(c),
      metadata: c.kind === 'timestamptz' ? { timezone: 'UTC' } : null,
    })),
    creator: { library: 'medallion-etl', version: creatorVersion },
    pandas_version: '2.2.0',
  });
}
