/**
 * Parquet encoding by DuckDB, in this process (@duckdb/node-api). Postgres' COPY output (CSV) is
 * handed to DuckDB through a named pipe (fifo.ts); DuckDB parses it with the column types we
 * declare (no sniffing) and writes the Parquet file. It beats the export's baseline (psql CSV, then
 * DuckDB CSV → Parquet) because Postgres writing CSV and DuckDB encoding overlap on the two cores
 * instead of following each other (docs/decisions/0002-duckdb-parquet-writer.md; the figures are in
 * src/export/README.md "Choosing the writer").
 *
 * Types follow `types.ts` (the contract): every integer BIGINT, numeric/real/double DOUBLE (parsed
 * from Postgres' shortest exact text), dates TIMESTAMP_MS (pandas reads Parquet DATE as `object`),
 * timestamps TIMESTAMP / TIMESTAMPTZ (microseconds), text VARCHAR. A date or timestamp that pandas
 * cannot hold as datetime64 (±infinity, years outside 1..9999) fails the export naming the column,
 * instead of coming out as a wrong value.
 */
// first: sets jemalloc's options before DuckDB's library loads
import './duckdb-allocator.ts';
import { type DuckDBConnection, DuckDBInstance, version as duckdbVersion } from '@duckdb/node-api';
import { ident, literal } from '../db/index.ts';
import type { ColumnKind, ExportColumn } from './types.ts';

export type Compression = 'zstd' | 'snappy';

const DUCKDB_TYPE: Record<ColumnKind, string> = {
  int64: 'BIGINT',
  float64: 'DOUBLE',
  bool: 'BOOLEAN',
  // read as text, checked and cast by exportedValue
  date: 'VARCHAR',
  timestamp: 'VARCHAR',
  timestamptz: 'VARCHAR',
  string: 'VARCHAR',
};

/**
 * DuckDB's memory for one file: about one row group of 131,072 rows of fact_sales being encoded.
 * Below about 200 MB DuckDB evicts and the export slows about threefold (src/export/README.md).
 * It bounds DuckDB's buffer manager, not the Parquet writer's pages, which the row group bounds.
 */
export const MEMORY_LIMIT = '300MB';
/**
 * DuckDB reads the pipe in buffers of this size and parses each before reading the next; Postgres
 * keeps writing into fifo.ts' 16 MB meanwhile. With DuckDB's default (32 MB, read whole before
 * parsing) the two take turns and the export is about a third slower (src/export/README.md). Also
 * the longest row accepted.
 */
const CSV_BUFFER_BYTES = 4 << 20;

export interface CsvToParquetOptions {
  /** A file or named pipe holding Postgres `COPY … (format csv)` output, no header. */
  source: string;
  /** The columns written, in the file's order. */
  columns: readonly ExportColumn[];
  /** The columns in the CSV's order, when it is not `columns`' (the month column first, export-months.ts). */
  csvColumns?: readonly ExportColumn[];
  outFile: string;
  rowGroupSize: number;
  compression: Compression;
  /** Written into the file footer's key-value metadata. */
  metadata: ReadonlyMap<string, string>;
}

export interface Footer {
  rows: number;
  rowGroupRows: number[];
}

/**
 * The expression that turns the CSV column into the exported one. Out-of-range dates and
 * timestamps must fail rather than come out wrong: Postgres writes years outside 1..9999 with 5+
 * digits or a ' BC' suffix, and ±infinity as words, while DuckDB's date parser reads
 * '0044-03-15 BC' as the year 44 AD (and with a strict dateformat, 'infinity' as 1900-01-01). So
 * dates and timestamps are read as text and checked first. A date in 0001..9999 is exactly 10
 * bytes: checking the length costs DuckDB less than checking the text with substr/ends_with
 * (`bench/export/date-checks.ts`; figures in src/export/README.md). Gold has few timestamps; they
 * take the fuller check.
 */
function exportedValue(col: ExportColumn): string {
  const name = ident(col.name);
  const outOfRange = literal(`column ${col.name}: a value outside the years 1-9999 (or infinity), which pandas cannot hold; cast or filter it in the model`);
  const fourDigitYearAD = `substr(${name}, 5, 1) = '-' and not ends_with(${name}, ' BC')`;
  const textChecked = (cast: string) => `case when ${name} is null then null when ${fourDigitYearAD} then ${cast} else error(${outOfRange}) end as ${name}`;
  switch (col.kind) {
    case 'date':
      return `case when strlen(${name}) = 10 then cast(cast(${name} as date) as timestamp_ms) when ${name} is null then null else error(${outOfRange}) end as ${name}`;
    case 'timestamp':
      return textChecked(`cast(${name} as timestamp)`);
    case 'timestamptz':
      return textChecked(`cast(${name} as timestamptz)`);
    default:
      return name;
  }
}

/**
 * One DuckDB database in memory, single-threaded (the other core is Postgres'), for one file
 * (export-table.ts says why not longer).
 */
export class ParquetEncoder {
  /** DuckDB's version, for the manifest. */
  static readonly version: string = duckdbVersion();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(): Promise<ParquetEncoder> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: MEMORY_LIMIT });
    return new ParquetEncoder(instance, await instance.connect());
  }

  /** The value of a DuckDB setting in this encoder, as `current_setting` gives it (for the tests of the bounds above). */
  async setting(name: string): Promise<string> {
    const reader = await this.connection.runAndReadAll(`select current_setting(${literal(name)})::varchar as v`);
    return String(reader.getRowObjects()[0]!.v);
  }

  /** Reads `source` to its end and writes `outFile`; resolves with the rows written. */
  async csvToParquet(o: CsvToParquetOptions): Promise<number> {
    const types = (o.csvColumns ?? o.columns).map((c) => `${literal(c.name)}: ${literal(DUCKDB_TYPE[c.kind])}`).join(', ');
    const select = o.columns.map(exportedValue).join(', ');
    const metadata = o.metadata.size === 0 ? '' : `, kv_metadata {${[...o.metadata].map(([k, v]) => `${literal(k)}: ${literal(v)}`).join(', ')}}`;
    // Postgres' CSV: NULL is an empty unquoted field, an empty string is "" (allow_quoted_nulls off).
    const read = `read_csv(${literal(o.source)}, columns = {${types}}, header = false, auto_detect = false,
      delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false,
      buffer_size = ${CSV_BUFFER_BYTES}, max_line_size = ${CSV_BUFFER_BYTES})`;
    const result = await this.connection.run(
      `copy (select ${select} from ${read}) to ${literal(o.outFile)}
       (format parquet, compression ${o.compression}, row_group_size ${o.rowGroupSize}${metadata})`,
    );
    return Number(result.rowsChanged);
  }

  /**
   * The row count of each row group of each file, from the footers of the files as they are on
   * disk, in one query: a table's files are checked together, and a query per file costs its own
   * round of DuckDB's planning, which a table of 256 bucket files pays 256 times.
   */
  async footers(files: readonly string[]): Promise<Footer[]> {
    if (files.length === 0) return [];
    const reader = await this.connection.runAndReadAll(
      `select file_name, row_group_id, any_value(row_group_num_rows) as row_count
         from parquet_metadata([${files.map(literal).join(', ')}]) group by file_name, row_group_id order by file_name, row_group_id`,
    );
    const byFile = new Map<string, number[]>(files.map((f) => [f, []]));
    for (const r of reader.getRowObjects()) byFile.get(String(r.file_name))?.push(Number(r.row_count));
    return files.map((f) => {
      const rowGroupRows = byFile.get(f)!;
      return { rows: rowGroupRows.reduce((a, b) => a + b, 0), rowGroupRows };
    });
  }

  /** Stops the statement running on this encoder (it then rejects). */
  interrupt(): void {
    this.connection.interrupt();
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
