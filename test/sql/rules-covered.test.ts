/**
 * Every named rule of the models has a test in test/sql that asserts its count: the rules the
 * project loader reads from sql/ (each model's rules, and the rules a quarantine model may emit: its
 * `rule` column's accepted values) are exactly the rules asserted by an
 * `expect(await db.ruleCount('<rule>')).toBe(<count above 0>)` inside a test that runs (an `it`
 * that is not skipped) in the fixture test files. The test files are read as TypeScript syntax, so
 * a comment, a skipped test or a count of 0 does not count. No database needed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { loadProject } from '../../src/transform/project.ts';
import { SQL_DIR } from './helpers.ts';

const FIXTURE_TESTS = ['customers.test.ts', 'products.test.ts', 'sales.test.ts', 'gold.test.ts', 'as-of.test.ts'];

async function declaredRules(): Promise<string[]> {
  const project = await loadProject({ sqlDir: SQL_DIR });
  const rules = new Set<string>();
  for (const model of project.models) {
    for (const rule of model.rules) rules.add(rule.name);
    if (!model.quarantine) continue;
    for (const test of model.tests) {
      if (test.kind === 'accepted_values' && test.column === 'rule') for (const v of test.values) rules.add(String(v));
    }
  }
  return [...rules].sort();
}

/**
 * `it`, `test`, `describe` called plainly, as `.only`/`.concurrent`/`.sequential`, or through
 * `.each(table)(…)`: not skipped, not conditional (`.skip`, `.todo`, `.skipIf(c)(…)`, `.runIf(c)(…)`).
 */
function runs(callee: ts.Expression): boolean {
  if (ts.isIdentifier(callee)) return ['it', 'test', 'describe'].includes(callee.text);
  if (ts.isPropertyAccessExpression(callee)) return runs(callee.expression) && ['only', 'concurrent', 'sequential'].includes(callee.name.text);
  if (ts.isCallExpression(callee) && ts.isPropertyAccessExpression(callee.expression)) return callee.expression.name.text === 'each' && runs(callee.expression.expression);
  return false;
}

/** The `it`/`test`/`describe` a call is made on (`it`, `it.skip`, `it.skipIf(c)`, `it.each(t)`), if any. */
function blockName(callee: ts.Expression): string | undefined {
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return blockName(callee.expression);
  if (ts.isCallExpression(callee)) return blockName(callee.expression);
  return undefined;
}

/** `expect(await <x>.ruleCount('<rule>')).toBe(<n>)` with n > 0: the rule asserted, else undefined. */
function assertedRule(node: ts.Node): string | undefined {
  if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression) || node.expression.name.text !== 'toBe') return undefined;
  const [expected] = node.arguments;
  if (!expected || !ts.isNumericLiteral(expected) || Number(expected.text) <= 0) return undefined;
  const expectCall = node.expression.expression;
  if (!ts.isCallExpression(expectCall) || !ts.isIdentifier(expectCall.expression) || expectCall.expression.text !== 'expect') return undefined;
  let actual = expectCall.arguments[0];
  if (actual && ts.isAwaitExpression(actual)) actual = actual.expression;
  if (!actual || !ts.isCallExpression(actual) || !ts.isPropertyAccessExpression(actual.expression) || actual.expression.name.text !== 'ruleCount') return undefined;
  const [rule] = actual.arguments;
  return rule && ts.isStringLiteral(rule) ? rule.text : undefined;
}

/** The rules whose count a running test of `file` asserts. */
function rulesAsserted(file: string, text: string): Set<string> {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const rules = new Set<string>();
  const visit = (node: ts.Node, inRunningTest: boolean): void => {
    let inside = inRunningTest;
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = blockName(callee);
      if (name === 'it' || name === 'test' || name === 'describe') {
        // a skipped or conditional block: nothing in it counts
        if (!runs(callee)) return;
        if (name !== 'describe') inside = true;
      }
      const rule = inside ? assertedRule(node) : undefined;
      if (rule) rules.add(rule);
    }
    ts.forEachChild(node, (child) => visit(child, inside));
  };
  visit(source, false);
  return rules;
}

async function testedRules(): Promise<string[]> {
  const rules = new Set<string>();
  for (const file of FIXTURE_TESTS) {
    const full = path.join(import.meta.dirname, file);
    for (const rule of rulesAsserted(full, await readFile(full, 'utf8'))) rules.add(rule);
  }
  return [...rules].sort();
}

describe('rule coverage of test/sql', () => {
  it('asserts the count of every named rule of sql/silver and sql/gold, and of no rule that does not exist', async () => {
    const declared = await declaredRules();
    expect(declared.length).toBeGreaterThan(40);
    expect(await testedRules()).toEqual(declared);
  });

  // A test file's text: which of its count assertions count. A block that does not run is written
  // with each modifier that makes a test or describe not run (`it.skip`, `it.todo`, `it.skipIf(…)`).
  it.each([['skip'], ['todo'], ['skipIf(true)']])('counts only an assertion of a count above 0 inside a test that runs (blocks marked .%s do not)', (modifier) => {
    const text = `
      describe('x', () => {
        it('a_rule: counted', async () => { expect(await db.ruleCount('counted')).toBe(2); });
        it('b_rule: zero', async () => { expect(await db.ruleCount('zero')).toBe(0); });
        it('c_rule: read, not asserted', async () => { const n = await db.ruleCount('read_only'); expect(n).not.toBeNull(); });
        it.${modifier}('d_rule: not run', async () => { expect(await db.ruleCount('not_run')).toBe(1); });
        // it('e_rule: commented', async () => { expect(await db.ruleCount('commented')).toBe(1); });
      });
      describe.${modifier}('y', () => { it('f_rule', async () => { expect(await db.ruleCount('in_a_block_not_run')).toBe(1); }); });
      expect(await db.ruleCount('outside_a_test')).toBe(1);
    `;
    expect([...rulesAsserted('example.test.ts', text)]).toEqual(['counted']);
  });
});
