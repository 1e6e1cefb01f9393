/**
 * Every named rule of the models has its own test in test/sql: the rules declared in sql/**\/*.yml
 * (`rules:`) and the rules a quarantine model may emit (its `rule` column's accepted values) are the
 * set of `it('<rule>: …')` titles of the fixture test files. No database needed.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SQL_DIR } from './helpers.ts';

interface ModelYml {
  quarantine?: boolean;
  columns?: { name: string; tests?: (string | Record<string, { values?: string[] }>)[] }[];
  rules?: { name: string }[];
}

async function declaredRules(): Promise<string[]> {
  const rules = new Set<string>();
  for (const layer of ['silver', 'gold']) {
    for (const file of (await readdir(path.join(SQL_DIR, layer))).filter((f) => f.endsWith('.yml'))) {
      const yml = (parse(await readFile(path.join(SQL_DIR, layer, file), 'utf8')) ?? {}) as ModelYml;
      for (const r of yml.rules ?? []) rules.add(r.name);
      if (yml.quarantine) {
        for (const c of yml.columns ?? []) {
          if (c.name !== 'rule') continue;
          for (const t of c.tests ?? []) if (typeof t === 'object' && t.accepted_values?.values) for (const v of t.accepted_values.values) rules.add(v);
        }
      }
    }
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
