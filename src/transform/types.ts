/**
 * The typed form of a model project (sql/silver, sql/gold): what src/transform/project.ts produces
 * from the `.sql` and `.yml` files, and what the build, the rule counts and the data tests consume.
 * The contract these types implement is sql/README.md.
 */

export type Layer = 'silver' | 'gold';
export type SourceLayer = 'bronze' | Layer;
export type Materialization = 'table' | 'view';
export type Severity = 'error' | 'warn';
export type RuleKind = 'repair' | 'superseded' | 'flag' | 'quarantine';

/** A schema-qualified relation such as `bronze.cust_info` or `silver.customers`. */
export type RelationName = string;

interface TestBase {
  /** Unique across the project; default built from kind, model and columns. */
  name: string;
  severity: Severity;
  /** The model the test belongs to (`silver.customers`). */
  model: RelationName;
  /** The .yml file that declares it (as given to loadProject, joined with the layer folder). */
  file: string;
  /**
   * Where it is declared, e.g. `models[0].columns[2].data_tests[0]` or `models[0].data_tests[1]`;
   * `config.unique_key` for the tests the key implies, `implied` for the volume guard a model has by
   * default, `tests/<name>.sql` for a singular test.
   */
  declaredAt: string;
}

export interface NotNullTest extends TestBase {
  kind: 'not_null';
  columns: string[];
  where?: string;
}
export interface UniqueTest extends TestBase {
  kind: 'unique';
  columns: string[];
  where?: string;
}
export interface AcceptedValuesTest extends TestBase {
  kind: 'accepted_values';
  column: string;
  values: (string | number | boolean)[];
  allowNull: boolean;
  where?: string;
}
export interface RelationshipsTest extends TestBase {
  kind: 'relationships';
  column: string;
  to: RelationName;
  field: string;
  /** Filter on the child rows (this model), e.g. `customer_known`. */
  where?: string;
  /**
   * With it, the test is a coverage threshold instead of a check of every row: it fails when fewer
   * than this fraction (0 < f <= 1) of the child rows (after `where`) find a parent; a NULL child
   * value finds none. Without it, every non-NULL child value must have a parent.
   */
  minCoverage?: number;
}
export interface ExpressionTest extends TestBase {
  kind: 'expression';
  expression: string;
  where?: string;
  /**
   * `config.meta.monotone_in_as_of: true`, declared (never inferred): a row that passes at as_of A
   * passes at every later as_of, so an update tests the delta alone (src/quality/incremental-tests.ts).
   */
  monotoneInAsOf?: boolean;
}
/** A singular test: `sql/tests/<name>.sql` (src/transform/singular-tests.ts). */
export interface QueryTest extends TestBase {
  kind: 'query';
  /** Rows returned are the failing rows. */
  sql: string;
  /** From sql/tests/schema.yml, when it gives one. */
  description?: string;
  /**
   * `config.meta.partition_by: <column>` of sql/tests/schema.yml: the failing rows of one value of
   * the column depend only on the model's rows with that value (src/transform/singular-tests.ts).
   */
  partitionBy?: string;
}
export interface EqualTest extends TestBase {
  kind: 'equal';
  left: string;
  right: string;
  /** Absolute difference allowed (numbers); 0 = must be equal. */
  tolerance: number;
  /**
   * `config.meta.additive: true`: each side is a sum over the rows it reads, so an update checks it
   * from the published values and the deltas (src/quality/incremental-reconciliations.ts).
   */
  additive?: boolean;
}

/**
 * A volume guard: the model's row count in this build against its row count in the published
 * schema (the last run that passed its tests). Fails when more than `maxDrop` of the published rows
 * are gone, and always when the published model had rows and the new one has none. Implied for every
 * table that is not a quarantine model (sql/README.md); no published model yet = pass, "no baseline".
 */
export interface RowCountChangeTest extends TestBase {
  kind: 'row_count_change';
  /** The largest drop allowed, as a fraction of the published row count (0 ≤ f ≤ 1). */
  maxDrop: number;
}

/**
 * The kind the runner records (etl.test_results.kind). The .yml names the generic tests as dbt and
 * dbt_utils do (model-spec.ts, GENERIC_TESTS): `dbt_utils.expression_is_true` is recorded as
 * `expression`, `dbt_utils.unique_combination_of_columns` as `unique`, `scalar_equality` as `equal`,
 * and a singular test (sql/tests/) as `query`.
 */
export type TestDefinition =
  | NotNullTest
  | UniqueTest
  | AcceptedValuesTest
  | RelationshipsTest
  | ExpressionTest
  | QueryTest
  | EqualTest
  | RowCountChangeTest;
export type TestKind = TestDefinition['kind'];

export interface RuleDefinition {
  name: string;
  kind: RuleKind;
  description?: string;
  /** The relation whose rows are counted; default: the model that declares the rule. */
  relation: RelationName;
  /** Rows matching this predicate are counted. Optional only for `quarantine` rules, which are
   * then counted from the quarantine models' rows (grouped by model and rule). */
  where?: string;
  /** The model that declares the rule, and its .yml file. */
  model: RelationName;
  file: string;
}

/**
 * What a column may be used for (`meta: { role: … }` on the column in the .yml): `key` identifies
 * the row; `feature` uses only what was known at the row's time (the order date of a fact_sales
 * line, as_of for a customer_features row); `lifetime` uses what happened after it (reporting and
 * segmentation, never a feature); `label` is a training target; `attribute` describes the row.
 */
export type ColumnRole = 'key' | 'feature' | 'lifetime' | 'label' | 'attribute';
export const COLUMN_ROLES: readonly ColumnRole[] = ['key', 'feature', 'lifetime', 'label', 'attribute'];

export interface ColumnSpec {
  name: string;
  description?: string;
  /** `meta.role` of the column. */
  role?: ColumnRole;
}

/**
 * A one-row input whose date columns move with the run's dates (`config.meta.date_windows`): when
 * only those columns changed, the partitions to compute again are those with a row of `over` whose
 * `dates` (SQL expressions over that row) lie between the old and the new value of a changed column,
 * both included. Any other change of the input builds the model whole.
 */
export interface DateWindow {
  /** The date columns of the input that may move; a change of any other column builds whole. */
  columns: string[];
  /**
   * Whose rows are dated: an input with the partition column, a `partitionInputs` bronze table, or
   * the model itself. The model itself means its published rows: the claim is then that every row
   * of the inputs outside the partitions found changed (whose rows are as the published model was
   * built from) has a published row of its partition with the same dates, as a model with one row
   * per input row that keeps the dates it parses has. Its dates are read without parsing the input
   * again.
   */
  over: RelationName;
  /** Date expressions over a row of `over` (schema-qualified references, as in the model's SQL). */
  dates: string[];
  /**
   * When the .yml gives `dates` per column: each column's own dates (a subset of `dates`), the
   * only ones its move is compared with. Without it every column is compared with every date.
   */
  datesOf?: Readonly<Record<string, readonly string[]>>;
}

/** How an incremental model is recomputed (src/transform/incremental.ts). */
export interface Incremental {
  partitionBy: string;
  /**
   * `config.meta.partition_inputs`: per bronze table the model reads, the SQL expression over its
   * row that gives the model's partition value (what the model computes as `partitionBy` from it).
   * A new load of such a table changes the partitions of its `<source>__changes` rows (old and new),
   * and the model reads only its rows of the partitions computed again. The same for an input model
   * without the partition column (silver.int_sales_daily_totals reads the lines' order_date as its
   * date): its changed rows give the partitions, as the column does for an input that has it.
   */
  partitionInputs?: Readonly<Record<RelationName, string>>;
  /**
   * `config.meta.bronze_lines`: per bronze table under `partitionInputs`, the model's column that
   * holds the `_line_number` of the line each of its rows comes from. The claim: every line of the
   * table has a row of the model with its line number there, in the partition its expression gives
   * (a model with one row per bronze line that keeps the line number). An update then reads the
   * table's lines of the partitions by line instead of scanning it: the published rows of the
   * partitions give the lines of the rows that did not change, `<source>__changes` the others.
   * A table whose expression is `_line_number` itself is read by line without it.
   */
  bronzeLines?: Readonly<Record<RelationName, string>>;
  /** `config.meta.date_windows`: per one-row input, the dates its moving columns are compared with. */
  dateWindows?: Readonly<Record<RelationName, DateWindow>>;
  /**
   * `config.meta.related_inputs`: per input model without the partition column, the column that
   * relates its rows to the model's partitions (silver.int_customers, partitioned by customer_id,
   * joins the ERP models by customer_key). The claim: a partition's rows depend on such an input
   * only through its rows whose value of that column is held by the partition's rows of the inputs
   * that have both columns (NULL relating to NULL). A changed value of the column affects the
   * partitions of those rows and of the model's published rows holding it; the update reads the
   * input's rows of the values that the partitions' rows of those inputs hold.
   */
  relatedInputs?: Readonly<Record<RelationName, string>>;
}

/** What a model's .yml declares (src/transform/model-spec.ts reads and checks it). */
export interface ModelSpec {
  description?: string;
  materialized: Materialization;
  /**
   * `materialized: incremental` with `partition_by` (dbt's config): the model's rows of one value of
   * the column are a function of the rows with that value in the inputs that have the column, and of
   * the whole of the inputs that do not. A run may then recompute only the partitions whose input
   * rows changed (src/transform/incremental.ts). Built as a table.
   */
  incremental?: Incremental;
  uniqueKey: string[];
  quarantine: boolean;
  /** Privileges granted on the published relation at every publish, per privilege: roles. */
  grants?: Readonly<Record<string, readonly string[]>>;
  /** `config.tags`: labels `--select tag:NAME` matches (dbt's tags), each once. */
  tags?: string[];
  /**
   * `config.indexes` (dbt-postgres' config): btree indexes on the built table, each a list of
   * columns, created after each whole build and kept by the in-place updates, for the readers that
   * look a few rows up by those columns (an update's filtered inputs). A table only.
   */
  indexes?: readonly (readonly string[])[];
  /**
   * `config.unlogged: true` (dbt-postgres' config): the table is created `unlogged`, written without
   * WAL. A server crash empties it, so only an intermediate table that no user reads and that the
   * tool rebuilds when it finds it emptied declares it (src/transform/unlogged.ts). A table only.
   */
  unlogged?: true;
  /**
   * `config.meta.planner_settings`: PostgreSQL planner settings (`max_parallel_workers_per_gather`,
   * `enable_*`) set for this model's statements only (its build and its updates), each with the
   * reason beside it in the .yml: for a plan the planner misjudges (a row count it cannot estimate).
   */
  plannerSettings?: Readonly<Record<string, string>>;
  /**
   * `config.meta.projection_of`: the model that this one holds exactly one row per row of, with
   * the same-named columns copied. project.ts checks it from the SQL (projection.ts) and keeps the
   * copied columns in `projection`.
   */
  projectionOf?: RelationName;
  /** Documented columns, in .yml order, each name once. */
  columns: ColumnSpec[];
  /**
   * `config.meta.export.leave_out` of a gold model: columns its Parquet export leaves out besides
   * the lifetime ones (they stay in PostgreSQL); each a documented column, none a key.
   */
  exportLeaveOut?: string[];
  /** Every test of the model: column tests, model-level tests and those implied by unique_key. */
  tests: TestDefinition[];
  rules: RuleDefinition[];
}

/** A model: its .yml declarations plus where it lives and what it reads. */
export interface Model extends ModelSpec {
  /** `silver.customers` */
  name: RelationName;
  layer: Layer;
  /** File stem: `customers` */
  relation: string;
  sqlFile: string;
  ymlFile: string;
  /** The select, as written (trailing semicolon removed). */
  sql: string;
  /** Models and bronze tables this model reads, sorted (`bronze.cust_info`, `silver.customers`). */
  dependencies: RelationName[];
  /** Whether its SQL reads the run's dates (`medallion.as_of`, `medallion.data_as_of`). */
  readsAsOf: boolean;
  /** `projectionOf` as proven from the SQL: the model and the columns copied from it. */
  projection?: { of: RelationName; columns: ReadonlySet<string> };
}

export interface Project {
  /** The sql folder that was read. */
  dir: string;
  /** Every model, in build (dependency) order. */
  models: Model[];
  /** The bronze tables the models may read (names without schema). */
  sources: readonly string[];
}

/** The schemas a build writes into before publishing. */
export interface StagingSchemas {
  readonly silver: string;
  readonly gold: string;
}
