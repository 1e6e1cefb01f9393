/**
 * Configuration, checked once at start-up. Order of precedence for every setting:
 * command-line option → environment variable → default (OPTIONS below, the only place a default
 * is written). All problems are collected and reported together in one UsageError (exit 2);
 * unknown options, options the command does not take and stray arguments are refused, never ignored.
 *
 * The connection comes from `--database-url`, then `DATABASE_URL`, then libpq's `PG*` variables
 * (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD), then the project's embedded PostgreSQL
 * (src/db/embedded/, started on demand in .medallion/pg/). The password is kept
 * out of everything printable: `Config.connection.display` is the only form that is logged.
 */
import path from 'node:path';
import { parseArgs as parseTokens } from 'node:util';
import { UsageError } from './errors.ts';

export type OptionType = 'string' | 'boolean';

/**
 * The commands of `medallion`. A command is this name plus one file, src/cli/<name>.ts (its
 * summary, description, positionals and run); the options it takes are the OPTIONS entries that
 * list it in `commands`.
 */
export const COMMAND_NAMES = ['build', 'load', 'transform', 'test', 'compile', 'ls', 'source', 'export', 'generate', 'report', 'docs', 'db'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** A default: a value, or a value per command where commands differ. */
export type OptionDefault = string | number | boolean;

/**
 * One entry of OPTIONS: one option, everything known about it.
 *
 *   type         'string' (takes a value) or 'boolean' (a flag, no value)
 *   value        the placeholder in help and the README: DIR, N, YYYY-MM-DD, pretty|json
 *   default      the value used when neither the option nor its env variable is given; a record
 *                keyed by command where commands differ; absent: no default (unset)
 *   defaultText  how the default reads when it is computed, not a constant ("pretty on a terminal");
 *                a record keyed by command where commands differ
 *   env          the environment variable read when the option is absent
 *   description  one sentence for `--help` and the README
 *   commands     the commands that take it; every other command refuses it (exit 2)
 *   about        a description per command where the meaning differs (e.g. --out of generate)
 *   check        returns what is wrong with a value (a sentence), or undefined when it is fine
 */
export interface OptionSpec {
  readonly type: OptionType;
  readonly value?: string;
  readonly default?: OptionDefault | Readonly<Partial<Record<CommandName, OptionDefault>>>;
  readonly defaultText?: string | Readonly<Partial<Record<CommandName, string>>>;
  readonly env?: string;
  readonly description: string;
  readonly commands: readonly CommandName[];
  readonly about?: Readonly<Partial<Record<CommandName, string>>>;
  readonly check?: (value: string) => string | undefined;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
function checkIsoDate(v: string): string | undefined {
  if (!ISO_DATE.test(v)) return `expected YYYY-MM-DD, got '${v}'`;
  const d = new Date(`${v}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v) return `'${v}' is not a calendar date`;
  return undefined;
}
/**
 * The run date is a day that has happened: a later one would age every customer and order by days
 * that have not passed (recency, tenure) and label as "no purchase since" a window still open.
 * Today (UTC) is allowed.
 */
function checkAsOf(v: string): string | undefined {
  const bad = checkIsoDate(v);
  if (bad) return bad;
  const today = new Date().toISOString().slice(0, 10);
  return v > today ? `${v} is after today (${today}, UTC); the run date must be a day that has happened` : undefined;
}
/** PostgreSQL reserves schema names that begin with `pg_`: a target's schemas must not. */
function checkTarget(v: string): string | undefined {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(v)) return `expected a lower-case name (letters, digits, _; at most 31 characters), got '${v}'`;
  return v.startsWith('pg_') ? `'${v}' begins with pg_, which PostgreSQL reserves for its own schemas (${v}_bronze would be refused); choose another name` : undefined;
}
function checkRate(v: string): string | undefined {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 1 ? undefined : `expected a fraction between 0 and 1 (0.01 = 1%), got '${v}'`;
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

const RUN: readonly CommandName[] = ['build', 'load', 'transform'];
const MODELS: readonly CommandName[] = ['build', 'transform'];
const WRITES_PARQUET: readonly CommandName[] = ['build', 'transform', 'export'];
const LOGS: readonly CommandName[] = ['build', 'load', 'transform', 'export', 'report', 'source'];
const READS_DB: readonly CommandName[] = ['build', 'load', 'transform', 'test', 'compile', 'export', 'report', 'docs', 'source'];
/** The commands that take dbt's node selection (src/transform/select.ts). */
const SELECTS: readonly CommandName[] = ['build', 'transform', 'test', 'compile', 'ls'];
/** …and `export`, where it picks the gold tables to write. */
const EXPORT_SELECTS: readonly CommandName[] = [...SELECTS, 'export'];

/**
 * Every option of every command, in the order help and the README list them. Parsing,
 * validation, defaults, `--help`, the suggestions for near misses and the README's option
 * tables (`npm run docs:cli`) all come from here. `--help`/`-h` is not listed: every command takes it.
 */
export const OPTIONS = {
  'database-url': { type: 'string', value: 'URL', env: 'DATABASE_URL', defaultText: 'PG* variables, else the embedded server in .medallion/pg', description: 'PostgreSQL connection URL', commands: READS_DB },
  target: { type: 'string', value: 'NAME', env: 'ETL_TARGET', defaultText: 'none (schemas bronze, silver, gold, etl)', description: 'schema prefix: NAME_bronze, NAME_silver, NAME_gold, NAME_etl', commands: READS_DB, check: checkTarget },
  seeds: { type: 'string', value: 'DIR', env: 'ETL_SEEDS', default: 'seeds/bronze', description: 'folder with the six source CSV files', commands: ['build', 'load', 'source'] },
  sql: { type: 'string', value: 'DIR', default: 'sql', description: 'folder with the silver and gold models', commands: [...EXPORT_SELECTS, 'report', 'docs', 'source'] },
  select: { type: 'string', value: 'SELECTOR', defaultText: 'everything', description: "dbt's node selection: gold.sales_daily, sales_daily+, +gold.fact_sales, tag:NAME, path:sql/gold; space = union, comma = intersection; the models not selected are read as published",
    about: { export: "the gold tables to export, with dbt's node selection as for build (gold.fact_sales, gold, +gold.sales_daily, tag:NAME; space = union, comma = intersection; models are read from --sql)" }, commands: EXPORT_SELECTS },
  exclude: { type: 'string', value: 'SELECTOR', defaultText: 'nothing', description: 'leave out what this selects (same syntax as --select)', commands: EXPORT_SELECTS },
  'resource-type': { type: 'string', value: 'model|test|source', defaultText: 'all three', description: 'list only this kind of node', commands: ['ls'], check: checkOneOf('model', 'test', 'source') },
  'as-of': { type: 'string', value: 'YYYY-MM-DD', env: 'ETL_AS_OF', defaultText: 'the day after the latest valid order date', description: 'the run date that replaces every "now" (today at the latest); build a past day into its own --target, not the daily one (its volume guard stops a publish that loses half the rows)', commands: MODELS, check: checkAsOf },
  'max-reject-rate': { type: 'string', value: 'F', default: 0.01, description: 'fail a file whose rejected records exceed this fraction of its records', commands: ['build', 'load'], check: checkRate },
  'max-field-bytes': { type: 'string', value: 'N', default: 65536, description: 'longest field accepted in bronze, in bytes', commands: ['build', 'load'], check: checkPositiveInt },
  out: {
    type: 'string', value: 'DIR', default: { build: 'exports', transform: 'exports', export: 'exports', generate: 'seeds/bronze', compile: 'target/manifest.json' }, description: 'where the Parquet exports go (exports/<target> for a named target)',
    about: { generate: 'where the generated CSV files go', compile: 'where the project manifest (JSON) goes' }, commands: [...WRITES_PARQUET, 'generate', 'compile'],
  },
  'partition-by': { type: 'string', value: 'order_year', defaultText: 'none', description: 'Hive-style partition folders for fact_sales', commands: WRITES_PARQUET, check: checkOneOf('order_year') },
  'row-group-size': { type: 'string', value: 'N', default: 131072, description: 'rows per Parquet row group, rounded up to a multiple of 2048', commands: WRITES_PARQUET, check: checkPositiveInt },
  tables: { type: 'string', value: 'LIST', defaultText: 'all: fact_sales,customer_features,sales_daily,customer_training_set', description: 'export only these gold tables (comma-separated; the same as --select "gold.a gold.b", which it cannot be combined with); the output folder then holds only them', commands: ['export'], check: checkListOf('fact_sales', 'customer_features', 'sales_daily', 'customer_training_set') },
  compression: { type: 'string', value: 'zstd|snappy', default: 'zstd', description: 'Parquet compression', commands: WRITES_PARQUET, check: checkOneOf('zstd', 'snappy') },
  publish: { type: 'string', value: 'swap|in-place', default: 'swap', description: 'how silver and gold are published: swap (schema renames, instant) or in-place (one transaction; readers in REPEATABLE READ keep their snapshot)', commands: MODELS, check: checkOneOf('swap', 'in-place') },
  'full-refresh': { type: 'boolean', description: 'rebuild every model from all its input, even when the sources or the models did not change since the last published run', commands: MODELS },
  'skip-export': { type: 'boolean', description: 'build and publish the tables but write no Parquet', commands: MODELS },
  jobs: { type: 'string', value: 'N', env: 'ETL_JOBS', default: 2, description: 'connections that load bronze files, build models and run data tests at the same time', commands: [...RUN, 'test'], check: checkPositiveInt },
  'log-format': { type: 'string', value: 'pretty|json', env: 'ETL_LOG_FORMAT', defaultText: { build: 'pretty on a terminal, else json', load: 'pretty on a terminal, else json', transform: 'pretty on a terminal, else json', export: 'pretty on a terminal, else json', report: 'pretty: the page\'s path alone', source: 'pretty on a terminal, else json' },
    description: 'text for a person, or one JSON object per line', commands: LOGS, check: checkOneOf('pretty', 'json') },
  quiet: { type: 'boolean', description: 'print only errors and the final line', commands: [...RUN, 'export', 'generate'] },
  report: { type: 'boolean', description: 'also render the HTML run report (reports/run-<id>.html) at the end', commands: RUN },
  scale: { type: 'string', value: 'N', default: 1, description: 'data size relative to the real exports (1 = about 60k sales lines; fractions work)', commands: ['generate'], check: checkPositive },
  seed: { type: 'string', value: 'S', default: 42, description: 'random seed (same seed and scale = same bytes)', commands: ['generate'], check: checkPositiveInt },
  clean: { type: 'boolean', description: 'no structural defects (quoting, BOM, bad records), orphans, duplicates or impossible dates', commands: ['generate'] },
  'structural-rate': { type: 'string', value: 'R', default: 0.0005, description: 'fraction of records with a structural defect', commands: ['generate'], check: checkRate },
  days: { type: 'string', value: 'N', defaultText: 'none: one snapshot', description: 'also write N daily snapshots after the base one: DIR/day-00 (the base) to DIR/day-NN, each the six files as the source systems would export them that day', commands: ['generate'], check: checkPositiveInt },
  manifest: { type: 'boolean', description: 'also write _manifest.json with the counts of every injected defect', commands: ['generate'] },
  serve: { type: 'boolean', description: 'serve the docs site on http://127.0.0.1:PORT/ until interrupted', commands: ['docs'] },
  port: { type: 'string', value: 'N', default: 8080, description: 'port for --serve (0 = any free port)', commands: ['docs'], check: checkPort },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;
export type ParsedOptions = Partial<Record<OptionName, string | boolean>>;

export interface ParsedArgs {
  options: ParsedOptions;
  positionals: string[];
  /** `-h` or `--help` was given: show the help, run nothing. */
  help: boolean;
}

function spec(name: OptionName): OptionSpec {
  return OPTIONS[name];
}

/** The options `command` takes, in table order. */
export function optionsOf(command: CommandName): OptionName[] {
  return (Object.keys(OPTIONS) as OptionName[]).filter((name) => spec(name).commands.includes(command));
}

/** The default of `name` for `command` (the first command that takes it when none is given). */
export function defaultOf(name: OptionName, command?: CommandName): OptionDefault | undefined {
  const d = spec(name).default;
  if (d === undefined || typeof d !== 'object') return d;
  const byCommand = d as Partial<Record<CommandName, OptionDefault>>;
  return byCommand[command ?? spec(name).commands.find((c) => byCommand[c] !== undefined)!];
}

/** What `name` does for `command`. */
export function describeOption(name: OptionName, command?: CommandName): string {
  const s = spec(name);
  return (command && s.about?.[command]) ?? s.description;
}

/**
 * The edit distance of two short strings (option and command names): insertions, deletions,
 * substitutions and swaps of two neighbours (`biuld`) count one each (optimal string alignment).
 */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The closest of `candidates` to `word`, when it is close enough to be a slip: at most a third of
 * its length apart (2 for long words), or the same word with `_` for `-`, or a prefix.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase().replace(/_/g, '-');
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = name.startsWith(w) && w.length >= 3 ? 0.5 : editDistance(w, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(1, Math.min(2, Math.floor(w.length / 3))) ? best.name : undefined;
}

/**
 * Parses `--name value`, `--name=value`, `--flag`, `-h` and `--help` (node:util parseArgs, token
 * by token, so that every problem is collected). Only the options in `accepted` are allowed; at most
 * `maxPositionals` arguments without `--`. Every problem is thrown together in one UsageError, each
 * unknown name with the nearest option it may mean. Values come from the command line, then the
 * option's env variable; defaults are not filled in (defaultOf does, where they are used).
 */
export function parseArgs(argv: readonly string[], accepted: readonly OptionName[], env: NodeJS.ProcessEnv = process.env, maxPositionals = 0, command?: CommandName): ParsedArgs {
  const problems: string[] = [];
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  const known = new Set<string>(accepted);
  const declared = Object.fromEntries(accepted.map((name) => [name, { type: spec(name).type }]));
  const { tokens } = parseTokens({ args: [...argv], options: { ...declared, help: { type: 'boolean', short: 'h' } }, strict: false, allowPositionals: true, tokens: true });
  let help = false;
  let skipValueOf: string | undefined;
  const takenBy = (name: string) => COMMAND_NAMES.filter((c) => (OPTIONS as Record<string, OptionSpec>)[name]?.commands.includes(c));
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      // The value of an unknown option is part of that problem, not a second one.
      if (skipValueOf !== undefined) {
        skipValueOf = undefined;
        continue;
      }
      positionals.push(token.value);
      continue;
    }
    skipValueOf = undefined;
    const { name, rawName, value, inlineValue } = token;
    if (name === 'help') {
      help = true;
      continue;
    }
    if (!known.has(name)) {
      const elsewhere = known.has(name.replace(/_/g, '-')) ? [] : takenBy(name.replace(/_/g, '-'));
      const near = closest(name.replace(/^-+/, ''), accepted);
      const meant = near ? `; did you mean --${near}?` : '';
      if (elsewhere.length) {
        problems.push(`${command ?? 'this command'} does not take ${rawName} (only ${elsewhere.join(', ')} ${elsewhere.length === 1 ? 'does' : 'do'})${meant}`);
      } else {
        problems.push(`unknown option ${rawName}${near ? ` (did you mean --${near}?)` : ''}`);
      }
      if (!inlineValue) skipValueOf = name;
      continue;
    }
    const option = spec(name as OptionName);
    if (option.type === 'boolean') {
      if (inlineValue) problems.push(`--${name} is a flag and takes no value (got --${name}=${value})`);
      options[name as OptionName] = true;
      continue;
    }
    if (value === undefined || (!inlineValue && value.startsWith('-') && value.length > 1 && !/^-\d/.test(value))) {
      problems.push(`--${name} needs a value: ${option.value ?? 'VALUE'} (${describeOption(name as OptionName, command)})`);
      continue;
    }
    options[name as OptionName] = value;
  }
  if (positionals.length > maxPositionals) {
    const extra = positionals.slice(maxPositionals);
    for (const p of extra) {
      const near = closest(p, accepted);
      problems.push(`unexpected argument '${p}'${near ? ` (did you mean --${near}?)` : maxPositionals === 0 ? ' (options start with --)' : ''}`);
    }
  }
  for (const name of accepted) {
    const option = spec(name);
    const fromEnv = option.env !== undefined && options[name] === undefined && env[option.env] !== undefined && env[option.env] !== '';
    if (fromEnv) options[name] = option.type === 'boolean' ? true : env[option.env!]!;
    const value = options[name];
    if (typeof value === 'string' && option.check) {
      const problem = option.check(value);
      if (problem) problems.push(`--${name}${fromEnv ? ` (from ${option.env})` : ''}: ${problem}`);
    }
  }
  if (problems.length && !help) {
    throw new UsageError('CONFIG_INVALID', problems, { hint: `Run \`medallion ${command ? `${command} ` : ''}--help\` for the options${command ? '' : ' of each command'}.` });
  }
  return { options, positionals, help };
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
  /** The project folder (the command's working folder): `.medallion/` lives here. */
  readonly projectDir: string;
  /**
   * `--out`, else `exports/` for the default target and `exports/<target>/` for a named one, so
   * that targets sharing a checkout never publish over each other (openExportsDir accepts the
   * named targets' folders inside the default's).
   */
  readonly exportsDir: string;
  /** `reports/` for the default target, `reports/<target>/` for a named one (run ids count per target). */
  readonly reportsDir: string;
  readonly asOf: string | null;
  readonly maxRejectRate: number;
  readonly maxFieldBytes: number;
  /** Connections building models / running data tests at once (independent models overlap). */
  readonly jobs: number;
  /** How silver and gold are published (src/transform/publish.ts). */
  readonly publishMode: 'swap' | 'in-place';
  /** `--select` / `--exclude` (src/transform/select.ts); null: everything. */
  readonly selection: { readonly select: string | null; readonly exclude: string | null };
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

/** The options of `medallion build`, which takes every option of a run. */
export const PIPELINE_OPTIONS: readonly OptionName[] = optionsOf('build');

/** A project folder of a target: `base` for the default target, `base/<target>` for a named one. */
export function targetFolder(base: string, target: string | null): string {
  return target ? path.join(base, target) : base;
}

/** `isTty`: whether output goes to a terminal; decides the default log format (pretty vs json). */
export function resolvePipelineConfig(options: ParsedOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), isTty = Boolean(process.stdout.isTTY)): PipelineConfig {
  const str = (n: OptionName) => (typeof options[n] === 'string' ? (options[n] as string) : undefined);
  const or = (n: OptionName) => str(n) ?? String(defaultOf(n, 'build'));
  const target = str('target') ?? null;
  return Object.freeze({
    connection: resolveConnection(options, env),
    target,
    schemas: schemaNames(target),
    seedsDir: path.resolve(cwd, or('seeds')),
    sqlDir: path.resolve(cwd, or('sql')),
    projectDir: path.resolve(cwd),
    exportsDir: path.resolve(cwd, str('out') ?? targetFolder(or('out'), target)),
    reportsDir: path.resolve(cwd, targetFolder('reports', target)),
    asOf: str('as-of') ?? null,
    maxRejectRate: Number(or('max-reject-rate')),
    maxFieldBytes: Number(or('max-field-bytes')),
    publishMode: or('publish') as 'swap' | 'in-place',
    selection: Object.freeze({ select: str('select') ?? null, exclude: str('exclude') ?? null }),
    jobs: Number(or('jobs')),
    export: Object.freeze({
      skip: options['skip-export'] === true,
      partitionBy: (str('partition-by') as 'order_year' | undefined) ?? null,
      rowGroupSize: Number(or('row-group-size')),
      compression: or('compression') as 'zstd' | 'snappy',
      tables: str('tables')?.split(',').map((t) => t.trim()) ?? null,
    }),
    logFormat: (str('log-format') as 'pretty' | 'json' | undefined) ?? (isTty ? 'pretty' : 'json'),
    quiet: options.quiet === true,
    report: options.report === true,
  });
}
