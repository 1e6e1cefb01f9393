/**
 * Configuration, checked once at start-up. Order of precedence for every setting:
 * command-line option → environment variable → default. All problems are collected and reported
 * together in one UsageError (exit 2); unknown options are rejected, never ignored.
 *
 * The connection comes from `--database-url`, then `DATABASE_URL`, then libpq's `PG*` variables
 * (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD), then the project's embedded PostgreSQL
 * (src/db/embedded/, started on demand in .medallion/pg/). The password is kept
 * out of everything printable: `Config.connection.display` is the only form that is logged.
 */
import path from 'node:path';
import { UsageError } from './errors.ts';

export type OptionType = 'string' | 'number' | 'boolean';

interface OptionSpec {
  type: OptionType;
  env?: string;
  description: string;
  /** Returns an error sentence for a bad value, or undefined when it is fine. */
  check?: (value: string) => string | undefined;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
function checkIsoDate(v: string): string | undefined {
  if (!ISO_DATE.test(v)) return `expected YYYY-MM-DD, got '${v}'`;
  const d = new Date(`${v}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v) return `'${v}' is not a calendar date`;
  return undefined;
}
function checkTarget(v: string): string | undefined {
  return /^[a-z][a-z0-9_]{0,30}$/.test(v) ? undefined : `expected a lower-case name (letters, digits, _; at most 31 characters), got '${v}'`;
}
function checkRate(v: string): string | undefined {
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? undefined : `expected a fraction between 0 and 1 (0.01 = 1%), got '${v}'`;
}
function checkPositiveInt(v: string): string | undefined {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? undefined : `expected a whole number above 0, got '${v}'`;
}
function checkPositive(v: string): string | undefined {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? undefined : `expected a number above 0, got '${v}'`;
}
function checkPort(v: string): string | undefined {
  return /^\d{1,5}$/.test(v) && Number(v) <= 65535 ? undefined : `expected a port number (0-65535), got '${v}'`;
}
function checkListOf(...allowed: string[]) {
  return (v: string) => {
    const wrong = v.split(',').filter((x) => !allowed.includes(x.trim()));
    return wrong.length === 0 && v.trim() !== '' ? undefined : `expected a comma-separated list of ${allowed.join(', ')}, got '${v}'`;
  };
}
function checkOneOf(...allowed: string[]) {
  return (v: string) => (allowed.includes(v) ? undefined : `expected one of ${allowed.join(', ')}, got '${v}'`);
}

/** Every option any command accepts. A command lists the names it takes in its own file. */
export const OPTIONS = {
  'database-url': { type: 'string', env: 'DATABASE_URL', description: 'PostgreSQL connection URL (else PG* variables, else the embedded server in .medallion/pg)' },
  target: { type: 'string', env: 'ETL_TARGET', description: 'schema prefix: NAME_bronze, NAME_silver, NAME_gold, NAME_etl', check: checkTarget },
  seeds: { type: 'string', env: 'ETL_SEEDS', description: 'folder with the six source CSV files (default seeds/bronze)' },
  sql: { type: 'string', description: 'folder with the silver and gold models (default sql)' },
  'as-of': { type: 'string', env: 'ETL_AS_OF', description: 'the run date that replaces every "now" (default: day after the latest valid order date)', check: checkIsoDate },
  'max-reject-rate': { type: 'string', description: 'fail a file when rejects exceed this fraction of its records (default 0.01)', check: checkRate },
  'max-field-bytes': { type: 'string', description: 'longest field accepted in bronze, in bytes (default 65536)', check: checkPositiveInt },
  out: { type: 'string', description: 'output folder' },
  'partition-by': { type: 'string', description: 'Hive-style partition column for fact_sales (order_year)', check: checkOneOf('order_year') },
  'row-group-size': { type: 'string', description: 'rows per Parquet row group, rounded up to a multiple of 2048 (default 131072)', check: checkPositiveInt },
  tables: { type: 'string', description: 'export only these gold tables (comma-separated; default all: fact_sales,customer_features,sales_daily)', check: checkListOf('fact_sales', 'customer_features', 'sales_daily') },
  compression: { type: 'string', description: 'Parquet compression: zstd or snappy (default zstd)', check: checkOneOf('zstd', 'snappy') },
  publish: { type: 'string', description: 'swap (default: schema renames, instant) or in-place (the published tables get the new rows in one transaction: slower, but readers in REPEATABLE READ transactions keep their snapshot)', check: checkOneOf('swap', 'in-place') },
  'skip-export': { type: 'boolean', description: 'build and publish the tables but write no Parquet' },
  jobs: { type: 'string', env: 'ETL_JOBS', description: 'connections that load bronze files, build models and run data tests at the same time (default 2)', check: checkPositiveInt },
  'log-format': { type: 'string', env: 'ETL_LOG_FORMAT', description: 'pretty (terminal) or json (one line per event)', check: checkOneOf('pretty', 'json') },
  quiet: { type: 'boolean', description: 'print only errors and the final line' },
  report: { type: 'boolean', description: 'also render the HTML run report at the end' },
  scale: { type: 'string', description: 'data size relative to the real exports (1 = about 60k sales lines)', check: checkPositive },
  seed: { type: 'string', description: 'random seed (same seed and scale = same bytes)', check: checkPositiveInt },
  clean: { type: 'boolean', description: 'no structural defects (quoting, BOM, bad records)' },
  'structural-rate': { type: 'string', description: 'fraction of records with a structural defect (default about 0.0005)', check: checkRate },
  manifest: { type: 'boolean', description: 'write _manifest.json with the counts of every injected defect' },
  repeat: { type: 'string', description: 'repetitions per measurement (default 3)', check: checkPositiveInt },
  serve: { type: 'boolean', description: 'serve the docs site on localhost until interrupted' },
  port: { type: 'string', description: 'port for --serve (default 8080; 0 = any free port)', check: checkPort },
  help: { type: 'boolean', description: 'show help for the command' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;
export type ParsedOptions = Partial<Record<OptionName, string | boolean>>;

export interface ParsedArgs {
  options: ParsedOptions;
  positionals: string[];
}

/**
 * Parses `--name value`, `--name=value` and `--flag`. Only the options in `accepted` are allowed;
 * every problem is collected and thrown together.
 */
export function parseArgs(argv: readonly string[], accepted: readonly OptionName[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const problems: string[] = [];
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  const allowed = new Set<string>([...accepted, 'help']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!allowed.has(name)) {
      problems.push(`unknown option --${name} (this command takes: ${accepted.map((a) => `--${a}`).join(', ') || 'no options'})`);
      if (eq < 0 && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) i++;
      continue;
    }
    const spec: OptionSpec = OPTIONS[name as OptionName];
    if (spec.type === 'boolean') {
      if (eq > 0) problems.push(`--${name} is a flag and takes no value`);
      options[name as OptionName] = true;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) {
      problems.push(`--${name} needs a value (${spec.description})`);
      if (value?.startsWith('--')) i--;
      continue;
    }
    options[name as OptionName] = value;
  }
  for (const name of accepted) {
    const spec: OptionSpec = OPTIONS[name];
    if (options[name] === undefined && spec.env && env[spec.env] !== undefined && env[spec.env] !== '') {
      options[name] = spec.type === 'boolean' ? true : env[spec.env]!;
    }
    const value = options[name];
    if (typeof value === 'string' && spec.check) {
      const problem = spec.check(value);
      if (problem) problems.push(`--${name}${spec.env && env[spec.env] === value ? ` (from ${spec.env})` : ''}: ${problem}`);
    }
  }
  if (problems.length) throw new UsageError('CONFIG_INVALID', problems, { hint: 'Run `medallion help` for the options of each command.' });
  return { options, positionals };
}

export interface SchemaNames {
  readonly bronze: string;
  readonly silver: string;
  readonly gold: string;
  readonly etl: string;
  /**
   * Where a build writes silver and gold before they are published. Inside a run (executeRun)
   * they are the run's own, `<silver>__run_<id>` and `<gold>__run_<id>`, so that no run can drop
   * or overwrite another run's; outside a run (library use, tests) `<silver>_next`, `<gold>_next`.
   */
  readonly staging: { readonly silver: string; readonly gold: string };
}

export function schemaNames(target: string | null): SchemaNames {
  const p = target ? `${target}_` : '';
  const silver = `${p}silver`;
  const gold = `${p}gold`;
  return Object.freeze({ bronze: `${p}bronze`, silver, gold, etl: `${p}etl`, staging: Object.freeze({ silver: `${silver}_next`, gold: `${gold}_next` }) });
}

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes), which would merge names. */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * The same schemas with the staging schemas of run `runId`. The longest target (31 characters)
 * with the largest run id (a bigint, 19 digits) gives `<target>_silver__run_<id>` of 63 bytes, so
 * every run's staging name is a whole identifier.
 */
export function runSchemaNames(schemas: SchemaNames, runId: number): SchemaNames {
  if (!Number.isSafeInteger(runId) || runId <= 0) throw new Error(`runSchemaNames: run id must be a positive integer, got ${runId}`);
  const staging = { silver: `${schemas.silver}__run_${runId}`, gold: `${schemas.gold}__run_${runId}` };
  for (const name of Object.values(staging)) {
    if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
      throw new UsageError('CONFIG_INVALID', [`the staging schema ${name} is longer than PostgreSQL's ${MAX_IDENTIFIER_BYTES} bytes: use a shorter --target`]);
    }
  }
  return Object.freeze({ ...schemas, staging: Object.freeze(staging) });
}

export interface ConnectionConfig {
  /**
   * Where the settings came from, printed at start. 'embedded': none of --database-url,
   * DATABASE_URL or the PG* variables is set, so the project's own PostgreSQL in `.medallion/pg/`
   * is used; `openDatabase` (src/db/open.ts) starts it and returns the resolved connection.
   */
  readonly source: 'option' | 'DATABASE_URL' | 'PG* variables' | 'embedded';
  /** user@host:port/database, never the password. */
  readonly display: string;
  /**
   * What to hand to pg.Client; the password, if any, is non-enumerable so it is never logged.
   * For 'embedded' before openDatabase, it points at nothing (connecting fails with ENOENT).
   */
  readonly client: Readonly<PgClientSettings>;
  /** Only for source 'embedded'. `port` (and `version`) are set once openDatabase has started it. */
  readonly embedded?: {
    /** The cluster's folder, absolute once resolved, `.medallion/pg` before. */
    readonly dir: string;
    readonly port?: number;
    /** The server's version, e.g. "18.4". */
    readonly version?: string;
    /** True when this process started the server (false: it was already running). */
    readonly started?: boolean;
  };
}

export interface PgClientSettings {
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  password?: string;
  application_name?: string;
}

/** Removes the password from a connection URL so it can be shown. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '****';
    return u.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1****@');
  }
}

/**
 * Where to connect, in this order: `--database-url`, `DATABASE_URL`, the libpq `PG*` variables,
 * then the project's embedded PostgreSQL (source 'embedded', started by `openDatabase`).
 * Synchronous and pure: it reads only its arguments.
 */
export function resolveConnection(options: ParsedOptions, env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  const url = typeof options['database-url'] === 'string' ? options['database-url'] : undefined;
  if (url) {
    const fromOption = env.DATABASE_URL !== url;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UsageError('CONFIG_INVALID', [`${fromOption ? '--database-url' : 'DATABASE_URL'}: not a URL (${redactUrl(url)}); expected postgresql://user@host:port/database`]);
    }
    if (!/^postgres(ql)?:$/.test(u.protocol)) {
      throw new UsageError('CONFIG_INVALID', [`${fromOption ? '--database-url' : 'DATABASE_URL'}: expected a postgresql:// URL, got ${u.protocol}//`]);
    }
    const client: PgClientSettings = { connectionString: url, application_name: 'medallion' };
    Object.defineProperty(client, 'connectionString', { enumerable: false });
    const display = `${decodeURIComponent(u.username) || '(default user)'}@${u.hostname || 'localhost'}:${u.port || 5432}/${u.pathname.slice(1) || '(default database)'}`;
    return Object.freeze({ source: fromOption ? 'option' : 'DATABASE_URL', display, client: Object.freeze(client) });
  }
  // Any libpq variable that says where or as whom to connect selects that server over the embedded one.
  if (['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD'].some((k) => env[k])) {
    const user = env.PGUSER || env.USER || 'postgres';
    const client: PgClientSettings = {
      host: env.PGHOST || env.PGHOSTADDR || '127.0.0.1',
      port: Number(env.PGPORT || 5432),
      user,
      database: env.PGDATABASE || user,
      application_name: 'medallion',
    };
    if (env.PGPASSWORD) Object.defineProperty(client, 'password', { value: env.PGPASSWORD, enumerable: false });
    return Object.freeze({
      source: 'PG* variables',
      display: `${client.user}@${client.host}:${client.port}/${client.database}`,
      client: Object.freeze(client),
    });
  }
  return Object.freeze({
    source: 'embedded',
    display: 'embedded PostgreSQL in .medallion/pg (not started yet)',
    // A Unix socket folder that does not exist: connecting before openDatabase fails at once
    // instead of reaching some other server.
    client: Object.freeze({ host: '/nonexistent/medallion-embedded-postgresql-not-started', application_name: 'medallion' }),
    embedded: Object.freeze({ dir: '.medallion/pg' }),
  });
}

/** Settings shared by the commands that touch the database and the project folders. */
export interface PipelineConfig {
  readonly connection: ConnectionConfig;
  readonly target: string | null;
  readonly schemas: SchemaNames;
  readonly seedsDir: string;
  readonly sqlDir: string;
  readonly exportsDir: string;
  readonly reportsDir: string;
  readonly asOf: string | null;
  readonly maxRejectRate: number;
  readonly maxFieldBytes: number;
  /** Connections building models / running data tests at once (independent models overlap). */
  readonly jobs: number;
  /** How silver and gold are published (src/transform/publish.ts). */
  readonly publishMode: 'swap' | 'in-place';
  readonly export: {
    readonly skip: boolean;
    readonly partitionBy: 'order_year' | null;
    readonly rowGroupSize: number;
    readonly compression: 'zstd' | 'snappy';
    /** The gold tables to export (`--tables`); null: all of them. */
    readonly tables: readonly string[] | null;
  };
  readonly logFormat: 'pretty' | 'json';
  readonly quiet: boolean;
  readonly report: boolean;
}

export const PIPELINE_OPTIONS = [
  'database-url', 'target', 'seeds', 'sql', 'as-of', 'max-reject-rate', 'max-field-bytes', 'out', 'partition-by',
  'row-group-size', 'compression', 'publish', 'skip-export', 'jobs', 'log-format', 'quiet', 'report',
] as const satisfies readonly OptionName[];

/** `isTty`: whether output goes to a terminal; decides the default log format (pretty vs json). */
export function resolvePipelineConfig(options: ParsedOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), isTty = Boolean(process.stdout.isTTY)): PipelineConfig {
  const str = (n: OptionName) => (typeof options[n] === 'string' ? (options[n] as string) : undefined);
  const target = str('target') ?? null;
  return Object.freeze({
    connection: resolveConnection(options, env),
    target,
    schemas: schemaNames(target),
    seedsDir: path.resolve(cwd, str('seeds') ?? 'seeds/bronze'),
    sqlDir: path.resolve(cwd, str('sql') ?? 'sql'),
    exportsDir: path.resolve(cwd, str('out') ?? 'exports'),
    reportsDir: path.resolve(cwd, 'reports'),
    asOf: str('as-of') ?? null,
    maxRejectRate: Number(str('max-reject-rate') ?? 0.01),
    maxFieldBytes: Number(str('max-field-bytes') ?? 65536),
    publishMode: (str('publish') ?? 'swap') as 'swap' | 'in-place',
    jobs: Number(str('jobs') ?? 2),
    export: Object.freeze({
      skip: options['skip-export'] === true,
      partitionBy: (str('partition-by') as 'order_year' | undefined) ?? null,
      rowGroupSize: Number(str('row-group-size') ?? 131072),
      compression: (str('compression') as 'zstd' | 'snappy' | undefined) ?? 'zstd',
      tables: str('tables')?.split(',').map((t) => t.trim()) ?? null,
    }),
    logFormat: (str('log-format') as 'pretty' | 'json' | undefined) ?? (isTty ? 'pretty' : 'json'),
    quiet: options.quiet === true,
    report: options.report === true,
  });
}
