/**
 * Every named rule of the models has its own test in test/sql: the rules declared in sql/**\/*.yml
 * (`config.meta.rules`) and the rules a quarantine model may emit (its `rule` column's accepted values) are the
 * set of `it('<rule>: …')` titles of the fixture test files. No database needed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProject } from '../../src/transform/project.ts';
import { SQL_DIR } from './helpers.ts';

async function declaredRules(): Promise<string[]> {
  const rules = new Set<string>();
  for (const m of (await loadProject({ sqlDir: SQL_DIR })).models) {
    for (const r of m.rules) rules.add(r.name);
    if (!m.quarantine) continue;
    for (const t of m.tests) if (t.kind === 'accepted_values' && t.column === 'rule') for (const v of t.values) rules.add(String(v));
  }
  return [...rules].sort();
}

async function testedRules(): Promise<string[]> {
  const rules = new Set<string>();
  const here = import.meta.dirname;
  for (const file of ['customers.test.ts', 'products.test.ts', 'sales.test.ts', 'gold.test.ts']) {
    const text = await readFile(path.join(here, file), 'utf8');
    for (const m of text.matchAll(/\bit\('([a-z0-9]+_[a-z0-9_]+): /g)) rules.add(m[1]!); // a rule name has an underscore
  }
  return [...rules].sort();
}

describe('rule coverage of test/sql', () => {
  it('has one test per named rule of sql/silver and sql/gold, and none for a rule that does not exist', async () => {
    const declared = await declaredRules();
    expect(declared.length).toBeGreaterThan(40);
    expect(await testedRules()).toEqual(declared);
  });
});
