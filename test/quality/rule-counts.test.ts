import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaNames } from '../../src/config.ts';
import { type Client, ident } from '../../src/db/client.ts';
import { MedallionError } from '../../src/errors.ts';
import { recordRuleCounts } from '../../src/quality/index.ts';
import { buildModels, loadProject } from '../../src/transform/index.ts';
import { caught, createBronze, dropSchemas, newRun, removeProject, SOURCES, setUpTarget, testClient, uniqueTarget, modelYml, writeProject } from '../transform/helpers.ts';

let client: Client;
let ledger: Client;
let schemas: SchemaNames;
const dirs: string[] = [];

const MODELS = {
  'silver/int_customer_records.sql': `select cst_id, cst_firstname as first_name_raw, trim(cst_firstname) as first_name, _source_file, _line_number
from bronze.cust_info`,
  'silver/int_customer_records.yml': modelYml('int_customer_records', 'description: every bronze customer record, cleaned.\n'),
  'silver/customers.sql': `-- valid customers
select cst_id::int as customer_id, first_name from silver.int_customer_records where cst_id ~ '^[0-9]+$'`,
  'silver/customers.yml': modelYml('customers', `
config:
  meta:
    rules:
      - name: customer_name_trimmed
        kind: repair
        description: First name had leading or trailing spaces.
        relation: silver.int_customer_records
        where: "first_name_raw is distinct from first_name"
      - name: customer_name_missing
        kind: flag
        where: "first_name is null"
      - name: customer_id_invalid
        kind: quarantine
        description: The customer id is empty or not an integer.
      - name: customer_never_quarantined
        kind: quarantine
        description: Declared but no row uses it.
      - name: bronze_rows
        kind: flag
        relation: bronze.cust_info
        where: "true"
`),
  'silver/customer_quarantine.sql': `select 'silver.customers' as model, 'customer_id_invalid' as rule,
       'customer id ' || coalesce(cst_id, 'NULL') || ' is not an integer' as message,
       _source_file as source_file, _line_number as line_number,
       jsonb_build_object('cst_id', cst_id) as values
from silver.int_customer_records where cst_id !~ '^[0-9]+$' or cst_id is null
union all
select 'silver.other', 'undeclared_rule', 'a rule nobody declared', null, null, null
from silver.int_customer_records where cst_id = '1'`,
  'silver/customer_quarantine.yml': modelYml('customer_quarantine', `
config:
  meta:
    quarantine: true
`),
};

async function build(files: Record<string, string>) {
  const dir = await writeProject(files);
  dirs.push(dir);
  const project = await loadProject({ sqlDir: dir, sources: SOURCES });
  const runId = await newRun(client, schemas);
  await buildModels({ client, schemas, project, asOf: '2024-01-01', runId });
  return { dir, project, runId };
}

beforeAll(async () => {
  client = await testClient();
  ledger = await testClient('medallion-test-ledger');
  ({ schemas } = await setUpTarget(client, uniqueTarget('rules')));
  await createBronze(client, schemas, 'cust_info', ['cst_id', 'cst_firstname'], [
    ['1', ' Ann'],
    ['2', 'Bob'],
    ['x', 'Cy '],
    [null, null],
  ]);
});

afterAll(async () => {
  await ledger.end();
  await dropSchemas(client, schemas);
  await client.end();
  for (const d of dirs) await removeProject(d);
});

describe('recordRuleCounts', () => {
  it('counts every rule and the quarantine rows per (model, rule), and copies the quarantine into etl', async () => {
    const { project, runId } = await build(MODELS);
    const result = await recordRuleCounts({ client, ledger, schemas, project, runId });
    const expected = [
      { model: 'bronze.cust_info', rule: 'bronze_rows', kind: 'flag', rows: 4, description: null },
      { model: 'silver.customers', rule: 'customer_id_invalid', kind: 'quarantine', rows: 2, description: 'The customer id is empty or not an integer.' },
      { model: 'silver.customers', rule: 'customer_name_missing', kind: 'flag', rows: 0, description: null },
      { model: 'silver.customers', rule: 'customer_never_quarantined', kind: 'quarantine', rows: 0, description: 'Declared but no row uses it.' },
      { model: 'silver.int_customer_records', rule: 'customer_name_trimmed', kind: 'repair', rows: 2, description: 'First name had leading or trailing spaces.' },
      { model: 'silver.other', rule: 'undeclared_rule', kind: 'quarantine', rows: 1, description: null },
    ];
    expect(result.counts).toEqual(expected);
    expect(result.quarantined).toBe(3);

    const counts = await client.query(`select model, rule, kind, rows, description from ${ident(schemas.etl)}.rule_counts where run_id = $1 order by model, rule`, [runId]);
    expect(counts.rows).toEqual(expected);
    const quarantine = await client.query(
      `select run_id, model, rule, message, source_file, line_number, values from ${ident(schemas.etl)}.quarantine where run_id = $1 order by line_number nulls last`,
      [runId],
    );
    expect(quarantine.rows).toEqual([
      { run_id: runId, model: 'silver.customers', rule: 'customer_id_invalid', message: 'customer id x is not an integer', source_file: 'cust_info.csv', line_number: 4, values: { cst_id: 'x' } },
      { run_id: runId, model: 'silver.customers', rule: 'customer_id_invalid', message: 'customer id NULL is not an integer', source_file: 'cust_info.csv', line_number: 5, values: { cst_id: null } },
      { run_id: runId, model: 'silver.other', rule: 'undeclared_rule', message: 'a rule nobody declared', source_file: null, line_number: null, values: null },
    ]);

    // Again for the same run: the run's rows are replaced, not doubled.
    await recordRuleCounts({ client, ledger: client, schemas, project, runId });
    const again = await client.query(`select count(*)::int as n from ${ident(schemas.etl)}.quarantine where run_id = $1`, [runId]);
    expect(again.rows[0].n).toBe(3);
  });

  it('a rule whose predicate fails → MODEL_SQL_FAILED naming the rule and its yml file', async () => {
    const files = { ...MODELS, 'silver/customers.yml': MODELS['silver/customers.yml'].replace('first_name is null', 'no_such_column is null') };
    const { dir, project, runId } = await build(files);
    const err = (await caught(recordRuleCounts({ client, ledger, schemas, project, runId }))) as unknown as MedallionError;
    expect(err).toBeInstanceOf(MedallionError);
    expect(err.code).toBe('MODEL_SQL_FAILED');
    expect(err.message).toBe(`rule 'customer_name_missing' on silver.customers: column "no_such_column" does not exist`);
    expect(err.context.file).toBe(`${dir}/silver/customers.yml`);
  });

  it('a quarantine row without a message → MODEL_SQL_FAILED naming the quarantine model, nothing written', async () => {
    const files = { ...MODELS, 'silver/customer_quarantine.sql': MODELS['silver/customer_quarantine.sql'].replace("'a rule nobody declared'", 'null') };
    const { dir, project, runId } = await build(files);
    const err = (await caught(recordRuleCounts({ client, ledger, schemas, project, runId }))) as unknown as MedallionError;
    expect(err.code).toBe('MODEL_SQL_FAILED');
    expect(err.message).toMatch(/^silver\.customer_quarantine: null value in column "message"/);
    expect(err.context.file).toBe(`${dir}/silver/customer_quarantine.sql`);
    const written = await client.query(`select (select count(*) from ${ident(schemas.etl)}.rule_counts where run_id = $1)::int as n`, [runId]);
    expect(written.rows[0].n).toBe(0);
  });
});
