/**
 * Publish: swap the staging schemas in for the published ones in ONE short transaction
 * (build-then-rename, as dbt-adapters' table materialization does per table, here per schema):
 *
 *   begin; set local lock_timeout;
 *     capture   privileges of silver/gold and their tables, default privileges, and the user's
 *               views that read them (anywhere) and objects that live in them
 *     rename    silver → silver__prev_<run>, silver__run_<run> → silver (same for gold)
 *     restore   the captured privileges and the declared grants on the new schemas and tables;
 *               move the user's objects into the new schemas; recreate the user's views from
 *               their definitions, so they read the new tables
 *     inside    the caller's checks and records (the run lock, the ledger's commit record)
 *   commit;                                         ← the commit point
 *   drop the __prev schemas (our objects only, never cascading into the user's)
 *
 * Readers see the old schemas or the new ones, never a mix. Our views keep pointing at what they
 * were built on because PostgreSQL stores references by OID: a gold view built on the staging
 * silver reads `silver` after the rename, the tables published with it. A reader still inside a
 * query on the old tables keeps reading them; only the final drop waits for it, under lock_timeout,
 * and when it times out the `__prev` schema is left behind (reported) and dropped by a later
 * publish. A user's object that cannot be carried over (a materialized view, a view whose columns
 * no longer fit) keeps the previous version alive: its `__prev` schema is not dropped, and the
 * result says why. Nothing of the user's is ever dropped: the drop uses PostgreSQL's RESTRICT
 * semantics, so anything outside that still depends on the old objects stops it.
 */
import type { SchemaNames } from '../config.ts';
import { type Client, ident, literal } from '../db/index.ts';
import { DependencyError, fromDatabaseError, InterruptedError, isConnectionError } from '../errors.ts';
import { failpoint } from '../failpoints.ts';
import { stagingSchemas, updateSchemaPattern } from './compile.ts';
import { applyUpdates, type ModelUpdate } from './incremental.ts';
import { attempt, readersSql, recreateViewSql, type ViewReader } from '../sql-runtime/index.ts';

/** Privileges granted on publish, per role (dbt's `grants:` config: `{select: [analyst]}`). */
export type Grants = Readonly<Record<string, readonly string[]>>;

export interface PublishOptions {
  /** How long any statement of the publish may wait for a lock (PostgreSQL interval). */
  lockTimeout?: string;
  /** Names the previous version's schemas (`<schema>__prev_<suffix>`); default: the time. */
  prevSuffix?: string;
  /** Declared grants per published relation, e.g. `{'gold.fact_sales': {select: ['analyst']}}`. */
  grants?: ReadonlyMap<string, Grants>;
  /**
   * Runs inside the publishing transaction, after the renames: checks that must hold for the run
   * to publish (the target's lock) and the records that commit with it (the ledger). Throws to
   * publish nothing.
   */
  insideTransaction?: (client: Client) => Promise<void>;
  /** Checked just before the commit: a signal before the commit point publishes nothing. */
  signal?: AbortSignal;
  /**
   * Drop the `__prev` schemas right after the commit (default). A caller with a second half to
   * finish after the commit (the export folder's switch) says false and calls
   * `dropPreviousVersions` once that is done.
   */
  dropPrevious?: boolean;
  /**
   * `swap` (default): schema renames, milliseconds whatever the size. `in-place`: the published
   * tables keep their identity and get the new rows (delete + insert in the same transaction),
   * so a reader in a REPEATABLE READ transaction that spans the publish keeps seeing the old rows
   * instead of empty new tables; slower (it writes every row again), and it needs the new build
   * to have the same columns as the published tables. The first publish of a target is a swap.
   */
  mode?: PublishMode;
  /**
   * Incremental models updated by partition (src/transform/incremental.ts): applied in place to
   * their published tables in the publishing transaction (publishRelations), not moved.
   */
  updates?: readonly ModelUpdate[];
  /**
   * The select of each view model of a selection, compiled against the published schemas
   * (publishRelations): such a view is created in the published schema instead of moved there, so
   * that it reads the published tables, not the run's staging (whose overlays of updated models go
   * with the staging schemas).
   */
  viewSql?: ReadonlyMap<string, string>;
}

export type PublishMode = 'swap' | 'in-place';

export interface PublishResult {
  /** The schemas that now hold the new build (`silver`, `gold`, with the target's prefix). */
  published: string[];
  /** `__prev` schemas that could not be dropped yet, with the reason; dropped by a later publish. */
  leftovers: { schema: string; reason: string }[];
  /** The user's objects carried over to the new version (views recreated, objects moved). */
  carried: string[];
  /** `__prev` schemas the user's objects keep alive, with the reason (for dropPreviousVersions). */
  kept: ReadonlyMap<string, string>;
  seconds: number;
}

export const DEFAULT_LOCK_TIMEOUT = '10s';
const LOCK_NOT_AVAILABLE = '55P03';

interface SchemaPair {
  published: string;
  next: string;
  prev: string;
}

/** A view of the user's that reads a published relation: recreated over the new one. */
interface UserView {
  schema: string;
  name: string;
  definition: string;
  /** Lives in a published schema (moved into the new one first). */
  inPublished: boolean;
  depth: number;
}

export async function publishModels(client: Client, schemas: SchemaNames, options: PublishOptions = {}): Promise<PublishResult> {
  const started = performance.now();
  const lockTimeout = options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT;
  const staging = stagingSchemas(schemas);
  const suffix = options.prevSuffix ?? String(Date.now());
  const pairs: SchemaPair[] = [
    { published: schemas.silver, next: staging.silver, prev: `${schemas.silver}__prev_${suffix}` },
    { published: schemas.gold, next: staging.gold, prev: `${schemas.gold}__prev_${suffix}` },
  ];
  const carried: string[] = [];
  const kept = new Map<string, string>();

  const { rows } = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname = any($1)', [pairs.map((p) => p.next)]);
  const missing = pairs.filter((p) => !rows.some((r) => r.nspname === p.next)).map((p) => p.next);
  if (missing.length) {
    throw new DependencyError('DB_ERROR', `nothing to publish: the staging schema ${missing.join(' and ')} does not exist`, {
      hint: 'Publish only after a successful build; nothing was changed.',
    });
  }
  await inPublishingTransaction(client, lockTimeout, options, async () => {
    const inPlace = options.mode === 'in-place' && (await publishedExists(client, pairs));
    for (const p of pairs) await client.query(`create schema if not exists ${ident(p.published)}`);
    const ours = await markOurs(client, pairs);
    if (inPlace) {
      await replaceInPlace(client, pairs, ours);
      for (const sql of declaredGrants(options.grants, schemas)) await client.query(sql);
    } else {
      await swapSchemas(client, pairs, ours, options.grants, schemas, carried, kept);
    }
  });

  const leftovers = options.dropPrevious === false ? [] : await dropPreviousVersions(client, schemas, { lockTimeout, kept, signal: options.signal });
  if (options.mode === 'in-place') {
    // What is left of the staging schemas after an in-place publish is the build's own copy.
    for (const p of pairs) await client.query(`drop schema if exists ${ident(p.next)} cascade`).catch(() => {});
  }
  return { published: pairs.map((p) => p.published), leftovers, carried, kept, seconds: (performance.now() - started) / 1000 };
}

/**
 * The frame of every publish: one transaction under `lock_timeout`, with every name in a
 * captured view definition schema-qualified (`search_path` pg_catalog); `body` does the publish,
 * then the caller's `insideTransaction` (the lock check, the ledger's record); a signal that
 * arrived by then rolls it all back. The commit is the run's commit point.
 */
async function inPublishingTransaction(client: Client, lockTimeout: string, options: PublishOptions, body: () => Promise<void>): Promise<void> {
  let inTransaction = false;
  try {
    await client.query('begin');
    inTransaction = true;
    await client.query("select set_config('lock_timeout', $1, true)", [lockTimeout]);
    await client.query("select set_config('search_path', 'pg_catalog', true)");
    await body();
    await options.insideTransaction?.(client);
    if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new InterruptedError('SIGTERM');
    await client.query('commit');
    inTransaction = false;
  } catch (err) {
    if (inTransaction) await client.query('rollback').catch(() => {});
    throw publishError(err, lockTimeout);
  }
}

/** The swap: capture what must follow, rename, restore (see the file comment). */
async function swapSchemas(
  client: Client,
  pairs: SchemaPair[],
  ours: Map<string, Set<string>>,
  grants: ReadonlyMap<string, Grants> | undefined,
  schemas: SchemaNames,
  carried: string[],
  kept: Map<string, string>,
): Promise<void> {
  const privileges = await capturePrivileges(client, pairs);
  const { views: userViews, blockers } = await captureUserViews(client, pairs, ours);
  for (const b of blockers) for (const p of pairs) kept.set(p.prev, b);
  const userObjects = await captureUserObjects(client, pairs, ours, userViews);

  for (const p of pairs) {
    await client.query(`alter schema ${ident(p.published)} rename to ${ident(p.prev)}`);
    await client.query(`alter schema ${ident(p.next)} rename to ${ident(p.published)}`);
  }
  for (const sql of privileges) await client.query(sql);
  for (const sql of declaredGrants(grants, schemas)) await client.query(sql);
  for (const o of userObjects) {
    const pair = pairs.find((p) => p.published === o.schema)!;
    const moved = await attempt(client, `alter ${o.kind} ${ident(pair.prev)}.${o.signature} set schema ${ident(o.schema)}`);
    if (moved === true) carried.push(`${o.schema}.${o.name}`);
    else kept.set(pair.prev, `${o.kind} ${o.schema}.${o.name} of yours could not be moved to the new version (${moved})`);
  }
  for (const v of userViews) {
    const pair = pairs.find((p) => p.published === v.schema);
    if (v.inPublished && pair) {
      const moved = await attempt(client, `alter view ${ident(pair.prev)}.${ident(v.name)} set schema ${ident(v.schema)}`);
      if (moved !== true) {
        kept.set(pair.prev, `view ${v.schema}.${v.name} of yours could not be moved to the new version (${moved})`);
        continue;
      }
    }
    const recreated = await attempt(client, recreateViewSql(v));
    if (recreated === true) carried.push(`${v.schema}.${v.name}`);
    else for (const p of pairs) kept.set(p.prev, `view ${v.schema}.${v.name} of yours reads the previous version and could not be recreated on the new one (${recreated}); change or drop it`);
  }
}

async function publishedExists(client: Client, pairs: SchemaPair[]): Promise<boolean> {
  const { rows } = await client.query<{ n: number }>('select count(*)::int as n from pg_namespace where nspname = any($1)', [pairs.map((p) => p.published)]);
  return rows[0]!.n === pairs.length;
}

interface RelationShape {
  kind: 'r' | 'v';
  /** Column names, types and NOT NULL, in order: what an in-place replacement must keep. */
  columns: string;
  /** `p` logged, `u` unlogged (`config.unlogged`), which an in-place replacement takes from the build. */
  persistence: string;
  definition: string | null;
}

async function relationShapes(client: Client, schema: string): Promise<Map<string, RelationShape>> {
  const { rows } = await client.query<{ relname: string; relkind: 'r' | 'v'; columns: string; persistence: string; definition: string | null }>(
    `select c.relname, c.relkind, c.relpersistence as persistence,
            (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || case when a.attnotnull then ' not null' else '' end, ', ' order by a.attnum)
               from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
            case when c.relkind = 'v' then pg_get_viewdef(c.oid) end as definition
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'v')
      order by c.oid`,
    [schema],
  );
  return new Map(rows.map((r) => [r.relname, { kind: r.relkind, columns: r.columns, persistence: r.persistence, definition: r.definition }]));
}

/**
 * The in-place publish: every table of the build replaces the rows of the published table of the
 * same name (which keeps its identity, privileges and the user's views on it); views are
 * recreated where their definition changed; a model that is new moves over, one that is gone is
 * dropped (never cascading). Silver first: gold's views read silver's tables.
 */
async function replaceInPlace(client: Client, pairs: SchemaPair[], ours: Map<string, Set<string>>): Promise<void> {
  const renames = pairs.map((p) => ({ from: new RegExp(`(?:"${escapeRegExp(p.next.replace(/"/g, '""'))}"|\\b${escapeRegExp(p.next)}\\b)\\.`, 'g'), to: `${ident(p.published)}.` }));
  const published = (definition: string) => renames.reduce((d, r) => d.replace(r.from, r.to), definition);
  for (const p of pairs) {
    const next = await relationShapes(client, p.next);
    const current = await relationShapes(client, p.published);
    for (const [name, shape] of next) {
      const old = current.get(name);
      const target = `${ident(p.published)}.${ident(name)}`;
      if (old && (old.kind !== shape.kind || (shape.kind === 'r' && old.columns !== shape.columns))) {
        throw new DependencyError('PUBLISH_BLOCKED', `an in-place publish cannot change ${p.published}.${name}: it is now (${shape.columns}), published as (${old.columns}); nothing was published`, {
          hint: 'Publish this build once with --publish swap (the default), then go on with in-place.',
        });
      }
      if (shape.kind === 'r' && old) {
        // a model that turned unlogged or logged takes the published table with it (a rewrite, once)
        if (old.persistence !== shape.persistence) await client.query(`alter table ${target} set ${shape.persistence === 'u' ? 'unlogged' : 'logged'}`);
        await client.query(`delete from ${target}`);
        await client.query(`insert into ${target} select * from ${ident(p.next)}.${ident(name)}`);
        // the build's indexes (an incremental table's partition index) that the published table lacks
        const { rows: indexes } = await client.query<{ definition: string }>(
          `select pg_get_indexdef(i.indexrelid) as definition
             from pg_index i join pg_class x on x.oid = i.indexrelid
            where i.indrelid = $1::regclass
              and not exists (select from pg_index j join pg_class y on y.oid = j.indexrelid where j.indrelid = $2::regclass and y.relname = x.relname)`,
          [`${ident(p.next)}.${ident(name)}`, target],
        );
        for (const index of indexes) await client.query(published(index.definition));
        await client.query(`analyze ${target}`);
      } else if (shape.kind === 'r') {
        await client.query(`alter table ${ident(p.next)}.${ident(name)} set schema ${ident(p.published)}`);
      } else {
        const definition = published(shape.definition!).replace(/;\s*$/, '');
        if (old?.definition?.replace(/;\s*$/, '') !== definition) await client.query(`create or replace view ${target} as ${definition}`);
      }
    }
    const gone = [...(ours.get(p.published) ?? [])].filter((name) => !next.has(name) && current.has(name));
    for (const name of gone) await client.query(`drop ${current.get(name)!.kind === 'v' ? 'view' : 'table'} ${ident(p.published)}.${ident(name)}`);
    const { rows } = await client.query<{ comment: string | null }>('select obj_description(oid, $2) as comment from pg_namespace where nspname = $1', [p.next, 'pg_namespace']);
    await client.query(`comment on schema ${ident(p.published)} is ${literal(rows[0]?.comment ?? '')}`);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Records on each staging schema which relations the build made (a schema comment): a later
 * publish tells our objects in the old schema from the user's by it. Returns, per published
 * schema, the names of ours in its current version.
 */
async function markOurs(client: Client, pairs: SchemaPair[]): Promise<Map<string, Set<string>>> {
  const ours = new Map<string, Set<string>>();
  for (const p of pairs) {
    const { rows } = await client.query<{ relname: string }>(
      `select relname from pg_class where relnamespace = (select oid from pg_namespace where nspname = $1) and relkind in ('r', 'p', 'v', 'm', 'f') order by relname`,
      [p.next],
    );
    await client.query(`comment on schema ${ident(p.next)} is ${literal(`${OURS_PREFIX}${rows.map((r) => r.relname).join(',')}`)}`);
    // A schema without our comment was published before schemas carried it: the new build's
    // relations are the best guess of ours.
    ours.set(p.published, (await recordedOurs(client, p.published)) ?? new Set(rows.map((r) => r.relname)));
  }
  return ours;
}

const OURS_PREFIX = 'medallion-etl relations: ';

/** The names of our relations that the schema's comment records (markOurs), or undefined without one. */
async function recordedOurs(client: Client, schema: string): Promise<Set<string> | undefined> {
  const { rows } = await client.query<{ comment: string | null }>('select obj_description(oid, $2) as comment from pg_namespace where nspname = $1', [schema, 'pg_namespace']);
  const comment = rows[0]?.comment;
  return comment?.startsWith(OURS_PREFIX) ? new Set(comment.slice(OURS_PREFIX.length).split(',').filter(Boolean)) : undefined;
}

/**
 * GRANT statements that give the new schemas and relations the privileges the published ones
 * had (schema ACL, the ACL of each relation of the same name, default privileges), so a
 * consumer's `grant select` survives every publish.
 */
async function capturePrivileges(client: Client, pairs: SchemaPair[]): Promise<string[]> {
  const { rows } = await client.query<{ sql: string }>(
    `with published as (
       select n.oid, n.nspname from pg_namespace n where n.nspname = any($1)
     ), schema_grants as (
       select format('grant %s on schema %I to %s%s', a.privilege_type, p.nspname,
                     case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end,
                     case when a.is_grantable then ' with grant option' else '' end) as sql
         from published p join pg_namespace n on n.oid = p.oid cross join lateral aclexplode(n.nspacl) a
        where a.grantee <> n.nspowner
     ), relation_grants as (
       select format('grant %s on table %I.%I to %s%s', a.privilege_type, p.nspname, c.relname,
                     case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end,
                     case when a.is_grantable then ' with grant option' else '' end) as sql
         from published p join pg_class c on c.relnamespace = p.oid cross join lateral aclexplode(c.relacl) a
        where c.relkind in ('r', 'p', 'v', 'm', 'f') and a.grantee <> c.relowner
     ), default_grants as (
       select format('alter default privileges for role %I in schema %I grant %s on %s to %s%s',
                     pg_get_userbyid(d.defaclrole), p.nspname, a.privilege_type,
                     case d.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions' when 'T' then 'types' end,
                     case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end,
                     case when a.is_grantable then ' with grant option' else '' end) as sql
         from published p join pg_default_acl d on d.defaclnamespace = p.oid cross join lateral aclexplode(d.defaclacl) a
        where d.defaclobjtype in ('r', 'S', 'f', 'T')
     )
     select sql from schema_grants union all select sql from relation_grants union all select sql from default_grants`,
    [pairs.map((p) => p.published)],
  );
  // A relation the new version no longer has loses its grant with it: the statement is skipped.
  return rows.map((r) => `do $grant$ begin execute ${literal(r.sql)}; exception when undefined_table then null; end $grant$`);
}

/** Table privileges a `grants:` entry may name (PostgreSQL's GRANT on a table). */
export const TABLE_PRIVILEGES = ['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger'] as const;

function declaredGrants(grants: ReadonlyMap<string, Grants> | undefined, schemas: SchemaNames): string[] {
  const out: string[] = [];
  const allowed: readonly string[] = TABLE_PRIVILEGES;
  for (const [relation, byPrivilege] of grants ?? []) {
    const [layer, name] = relation.split('.') as ['silver' | 'gold', string];
    const schema = layer === 'silver' ? schemas.silver : schemas.gold;
    for (const [privilege, roles] of Object.entries(byPrivilege)) {
      if (!allowed.includes(privilege)) throw new DependencyError('DB_ERROR', `grants of ${relation}: '${privilege}' is not a table privilege (${allowed.join(', ')})`);
      for (const role of roles) {
        out.push(`grant usage on schema ${ident(schema)} to ${ident(role)}`);
        out.push(`grant ${privilege} on table ${ident(schema)}.${ident(name)} to ${ident(role)}`);
      }
    }
  }
  return out;
}

/**
 * The user's views that read (directly or through other views) a relation of the published
 * schemas, shallowest first, with their definitions. Views of ours (listed in `ours`) are left out.
 */
async function captureUserViews(client: Client, pairs: SchemaPair[], ours: Map<string, Set<string>>): Promise<{ views: UserView[]; blockers: string[] }> {
  const published = pairs.map((p) => p.published);
  const { rows } = await client.query<ViewReader>(
    readersSql(`select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any($1) and c.relkind in ('r', 'p', 'v', 'm', 'f')`),
    [published],
  );
  const views: UserView[] = [];
  const blockers: string[] = [];
  for (const r of rows) {
    if (ours.get(r.schema)?.has(r.name)) continue;
    if (r.relkind === 'v') views.push({ schema: r.schema, name: r.name, definition: r.definition, inPublished: published.includes(r.schema), depth: Number(r.depth) });
    else blockers.push(`materialized view ${r.schema}.${r.name} of yours reads the previous version (it cannot be recreated without a refresh); refresh it from a view of yours, or drop it`);
  }
  return { views, blockers };
}

/** The user's objects other than views that live in a published schema: moved to the new one. */
async function captureUserObjects(client: Client, pairs: SchemaPair[], ours: Map<string, Set<string>>, views: UserView[]): Promise<{ schema: string; name: string; kind: string; signature: string }[]> {
  const { rows } = await client.query<{ schema: string; name: string; kind: string; signature: string }>(
    `select n.nspname as schema, c.relname as name,
            case c.relkind when 'r' then 'table' when 'p' then 'table' when 'v' then 'view' when 'm' then 'materialized view'
                           when 'f' then 'foreign table' when 'S' then 'sequence' end as kind,
            quote_ident(c.relname) as signature
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
        and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i'))
     union all
     select n.nspname, p.proname, case p.prokind when 'p' then 'procedure' else 'function' end,
            quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')'
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = any($1)`,
    [pairs.map((p) => p.published)],
  );
  const viewNames = new Set(views.map((v) => `${v.schema}.${v.name}`));
  return rows.filter((r) => !ours.get(r.schema)?.has(r.name) && !viewNames.has(`${r.schema}.${r.name}`));
}

/**
 * Drops every `<silver|gold>__prev_*` schema of the target (this publish's and any an earlier one
 * left), each in its own transaction: our views, then our tables, then the schema, none with
 * CASCADE, so a user's object that still depends on one stops the drop instead of being dropped.
 * Clean-up only, after the commit point: a signal skips it (a later publish does it).
 */
export async function dropPreviousVersions(
  client: Client,
  schemas: SchemaNames,
  options: { lockTimeout?: string; kept?: ReadonlyMap<string, string>; signal?: AbortSignal } = {},
): Promise<{ schema: string; reason: string }[]> {
  const lockTimeout = options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT;
  const kept = options.kept ?? new Map<string, string>();
  const { rows } = await client.query<{ nspname: string }>(
    `select nspname from pg_namespace where starts_with(nspname, $1) or starts_with(nspname, $2) or nspname = any($3) order by nspname`,
    [`${schemas.silver}__prev_`, `${schemas.gold}__prev_`, [`${schemas.silver}_prev`, `${schemas.gold}_prev`]],
  );
  const leftovers: { schema: string; reason: string }[] = [];
  // gold before silver: our gold views read silver tables.
  const order = rows.map((r) => r.nspname).sort((a, b) => Number(b.startsWith(schemas.gold)) - Number(a.startsWith(schemas.gold)));
  for (const schema of order) {
    const suffix = schema.slice(schema.lastIndexOf('_prev') + '_prev'.length);
    // Our gold views read the silver tables of their version: silver goes only after its gold.
    const goldKept = schema.startsWith(schemas.silver) ? leftovers.find((l) => l.schema.startsWith(schemas.gold) && l.schema.endsWith(`_prev${suffix}`)) : undefined;
    const reason = kept.get(schema) ?? (goldKept ? `read by ${goldKept.schema}, which is kept` : options.signal?.aborted ? 'interrupted; dropped by the next publish' : await dropSchemaRestrict(client, schema, lockTimeout, options.signal));
    if (reason) leftovers.push({ schema, reason });
  }
  return leftovers;
}

/**
 * The drop waits for readers in short tries (DROP_TRY) until `lockTimeout` has passed, so that a
 * signal ends the wait within one try instead of after the whole timeout.
 */
async function dropSchemaRestrict(client: Client, schema: string, lockTimeout: string, signal?: AbortSignal): Promise<string | null> {
  const budget = intervalMs(lockTimeout);
  const started = performance.now();
  for (;;) {
    const left = budget - (performance.now() - started);
    const reason = await dropSchemaOnce(client, schema, `${Math.max(1, Math.round(Math.min(left, DROP_TRY_MS)))}ms`);
    if (reason !== LOCK_WAIT || performance.now() - started >= budget) return reason === LOCK_WAIT ? `a reader held a lock for more than lock_timeout (${lockTimeout})` : reason;
    if (signal?.aborted) return 'interrupted while a reader held a lock; dropped by the next publish';
  }
}

const DROP_TRY_MS = 250;
const LOCK_WAIT = 'lock wait';

/** `10s`, `500ms`, `1min` → milliseconds (the forms lock_timeout takes here). */
function intervalMs(interval: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min)?\s*$/.exec(interval);
  if (!m) return 10_000;
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : m[2] === 'min' ? n * 60_000 : n;
}

async function dropSchemaOnce(client: Client, schema: string, lockTimeout: string): Promise<string | null> {
  let inTransaction = false;
  try {
    await client.query('begin');
    inTransaction = true;
    await client.query("select set_config('lock_timeout', $1, true)", [lockTimeout]);
    const { rows } = await client.query<{ relname: string; relkind: string }>(
      `select relname, relkind from pg_class where relnamespace = (select oid from pg_namespace where nspname = $1) and relkind in ('v', 'm', 'r', 'p', 'f')`,
      [schema],
    );
    const names = (kinds: string[]) => rows.filter((r) => kinds.includes(r.relkind)).map((r) => `${ident(schema)}.${ident(r.relname)}`).join(', ');
    if (names(['v'])) await client.query(`drop view ${names(['v'])}`);
    if (names(['m'])) await client.query(`drop materialized view ${names(['m'])}`);
    if (names(['f'])) await client.query(`drop foreign table ${names(['f'])}`);
    if (names(['r', 'p'])) await client.query(`drop table ${names(['r', 'p'])}`);
    await client.query(`drop schema ${ident(schema)}`);
    await client.query('commit');
    return null;
  } catch (err) {
    if (inTransaction) await client.query('rollback').catch(() => {});
    if (isConnectionError(err)) return `the connection was lost (${(err as Error).message})`;
    const e = err as { code?: string; message?: string; detail?: string };
    if (e.code === LOCK_NOT_AVAILABLE) return LOCK_WAIT;
    return `${e.message}${e.detail ? `: ${e.detail.replace(/\n/g, '; ')}` : ''}`;
  }
}

function isLockTimeout(err: unknown): boolean {
  return (err as { code?: string })?.code === LOCK_NOT_AVAILABLE && !isConnectionError(err);
}

function publishError(err: unknown, lockTimeout: string): Error {
  if (err instanceof DependencyError || err instanceof InterruptedError) return err;
  if (isLockTimeout(err)) {
    return new DependencyError(
      'PUBLISH_BLOCKED',
      `could not publish: another session held a lock for more than lock_timeout (${lockTimeout}); nothing was published by this run`,
      { hint: 'Find it with `select pid, state, query from pg_stat_activity where wait_event_type is null and state like \'idle in transaction%\'`, end it or wait, then run again.' },
      { cause: err },
    );
  }
  if (err instanceof Error && 'category' in err) return err;
  return fromDatabaseError(err, 'publishing the new silver and gold schemas');
}

/**
 * The publish of a selection (`--select`): only the relations that were rebuilt change, each by a
 * per-relation swap in ONE transaction (dbt-adapters' build-then-rename, per table):
 *
 *   begin; set local lock_timeout;
 *     capture   the ACL of each published relation being replaced, and every view (ours or the
 *               user's, in any schema) that reads one of them, with its definition
 *     move      <schema>.x → <schema>__prev_<run>.x, <staging>.x → <schema>.x (silver first)
 *     restore   the captured privileges and the declared grants; recreate the captured views
 *               from their definitions, so they read the new relations
 *     inside    the caller's checks and records
 *   commit;
 *   drop the __prev schemas (dropPreviousVersions), then what is left of the staging schemas
 *
 * The models not selected stay where they are, untouched; the published schemas keep their own
 * privileges and default privileges and the user's objects in them stay put. A view that cannot
 * be recreated on a new relation (its columns no longer fit) keeps the previous version alive, as
 * in the schema swap, and nothing of the user's is dropped.
 */
export async function publishRelations(client: Client, schemas: SchemaNames, relations: readonly string[], options: Omit<PublishOptions, 'mode'> = {}): Promise<PublishResult> {
  const started = performance.now();
  const lockTimeout = options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT;
  const staging = stagingSchemas(schemas);
  const suffix = options.prevSuffix ?? String(Date.now());
  const layerOf = (r: string) => r.slice(0, r.indexOf('.')) as 'silver' | 'gold';
  const updated = new Set((options.updates ?? []).map((u) => u.model));
  const moves = [...relations]
    .filter((r) => !updated.has(r))
    .sort((a, b) => Number(layerOf(a) === 'gold') - Number(layerOf(b) === 'gold'))
    .map((r) => {
      const layer = layerOf(r);
      return { relation: r, name: r.slice(r.indexOf('.') + 1), published: schemas[layer], next: staging[layer], prev: `${schemas[layer]}__prev_${suffix}` };
    });
  const carried: string[] = [];
  const kept = new Map<string, string>();
  const missing = (await client.query<{ nspname: string }>('select unnest($1::text[]) as nspname except select nspname from pg_namespace', [[schemas.silver, schemas.gold]])).rows.map((r) => r.nspname);
  if (missing.length) {
    throw new DependencyError('PUBLISH_BLOCKED', `nothing is published in ${missing.join(' and ')} yet, so a selection has nothing to be published beside; nothing was published`, {
      hint: 'Run a whole build once (without --select), then select.',
    });
  }
  await inPublishingTransaction(client, lockTimeout, options, async () => {
    await applyUpdates(client, schemas, options.updates ?? []);
    if (options.updates?.length) failpoint('after-updates');
    const { rows: existing } = await client.query<{ schema: string; name: string; kind: string; oid: number }>(
      `select n.nspname as schema, c.relname as name, case c.relkind when 'v' then 'view' else 'table' end as kind, c.oid::int8 as oid
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where (n.nspname, c.relname) in (select * from unnest($1::text[], $2::text[])) and c.relkind in ('r', 'p', 'v')`,
      [moves.flatMap((m) => [m.published, m.next]), moves.flatMap((m) => [m.name, m.name])],
    );
    const find = (schema: string, name: string) => existing.find((e) => e.schema === schema && e.name === name);
    const built = moves.filter((m) => find(m.next, m.name));
    const replaced = built.filter((m) => find(m.published, m.name));
    const oids = replaced.map((m) => find(m.published, m.name)!.oid);
    const privileges = await relationPrivileges(client, oids);
    const movedNames = new Set(built.map((m) => `${m.published}.${m.name}`));
    const { rows: readers } = await client.query<ViewReader>(readersSql('select unnest($1::oid[]) as oid'), [oids]);
    const views = readers.filter((r) => !movedNames.has(`${r.schema}.${r.name}`) && !r.schema.startsWith(`${schemas.silver}__`) && !r.schema.startsWith(`${schemas.gold}__`));
    const ours = new Map<string, Set<string> | undefined>();
    for (const schema of [schemas.silver, schemas.gold]) ours.set(schema, await recordedOurs(client, schema));

    for (const prev of new Set(replaced.map((m) => m.prev))) await client.query(`create schema if not exists ${ident(prev)}`);
    for (const m of built) {
      const kind = find(m.next, m.name)!.kind;
      const old = find(m.published, m.name);
      if (old) await client.query(`alter ${old.kind} ${ident(m.published)}.${ident(m.name)} set schema ${ident(m.prev)}`);
      const viewSql = kind === 'view' ? options.viewSql?.get(m.relation) : undefined;
      if (viewSql === undefined) await client.query(`alter ${kind} ${ident(m.next)}.${ident(m.name)} set schema ${ident(m.published)}`);
    }
    // views after every table is in place (tables first, then views, in the order given: the
    // project's build order, so a view reading a view finds it)
    for (const r of relations) {
      const m = built.find((b) => b.relation === r);
      const viewSql = m && find(m.next, m.name)!.kind === 'view' ? options.viewSql?.get(r) : undefined;
      if (m && viewSql !== undefined) await client.query(`create view ${ident(m.published)}.${ident(m.name)} as\n${viewSql}`);
    }
    for (const sql of privileges) await client.query(sql);
    const selectedGrants = new Map([...(options.grants ?? [])].filter(([r]) => relations.includes(r)));
    for (const sql of declaredGrants(selectedGrants, schemas)) await client.query(sql);
    for (const v of views) {
      if (v.relkind !== 'v') {
        for (const p of new Set(replaced.map((m) => m.prev))) kept.set(p, `materialized view ${v.schema}.${v.name} reads the previous version (it cannot be recreated without a refresh); refresh it from a view, or drop it`);
        continue;
      }
      const recreated = await attempt(client, recreateViewSql(v));
      // carried names the user's objects only: a view of ours recreated on the new relations is part of the publish
      if (recreated === true && !ours.get(v.schema)?.has(v.name)) carried.push(`${v.schema}.${v.name}`);
      else if (recreated !== true) for (const p of new Set(replaced.map((m) => m.prev))) kept.set(p, `view ${v.schema}.${v.name} reads the previous version and could not be recreated on the new one (${recreated}); change or drop it`);
    }
    for (const schema of new Set(built.map((m) => m.published))) await addToOurs(client, schema, built.filter((m) => m.published === schema).map((m) => m.name));
  });
  const leftovers = options.dropPrevious === false ? [] : await dropPreviousVersions(client, schemas, { lockTimeout, kept, signal: options.signal });
  if (options.dropPrevious !== false) await dropStaging(client, schemas);
  return { published: [...new Set([...moves.map((m) => m.relation), ...updated])], leftovers, carried, kept, seconds: (performance.now() - started) / 1000 };
}

/** What a selection's publish leaves of the run's staging schemas (views the export read through). */
export async function dropStaging(client: Client, schemas: SchemaNames): Promise<void> {
  const staging = stagingSchemas(schemas);
  for (const s of [staging.silver, staging.gold]) {
    if (s === schemas.silver || s === schemas.gold) continue;
    // the update schemas of the run's incremental models first (the overlay views read them)
    const { rows } = await client
      .query<{ nspname: string }>('select nspname from pg_namespace where nspname ~ $1', [updateSchemaPattern([s])])
      .catch(() => ({ rows: [] as { nspname: string }[] }));
    for (const r of rows) await client.query(`drop schema if exists ${ident(r.nspname)} cascade`).catch(() => {});
    await client.query(`drop schema if exists ${ident(s)} cascade`).catch(() => {});
  }
}

/** GRANT statements that give each relation's successor the ACL it has (relations by OID). */
async function relationPrivileges(client: Client, oids: readonly number[]): Promise<string[]> {
  const { rows } = await client.query<{ sql: string }>(
    `select format('grant %s on table %I.%I to %s%s', a.privilege_type, n.nspname, c.relname,
                   case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end,
                   case when a.is_grantable then ' with grant option' else '' end) as sql
       from pg_class c join pg_namespace n on n.oid = c.relnamespace cross join lateral aclexplode(c.relacl) a
      where c.oid = any($1::oid[]) and a.grantee <> c.relowner`,
    [oids],
  );
  return rows.map((r) => r.sql);
}

/** Adds `names` to the published schema's record of our relations (see markOurs). */
async function addToOurs(client: Client, schema: string, names: readonly string[]): Promise<void> {
  const ours = (await recordedOurs(client, schema)) ?? new Set<string>();
  for (const n of names) ours.add(n);
  await client.query(`comment on schema ${ident(schema)} is ${literal(`${OURS_PREFIX}${[...ours].sort().join(',')}`)}`);
}
