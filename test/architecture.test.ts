/**
 * The import rules of src/ (the "rooms and floors" table of src/README.md), checked on the module
 * graph that dependency-cruiser reads from the sources (static, dynamic and type-only imports):
 * - no import cycle between files;
 * - a room (a top-level folder of src/, or a top-level file such as errors.ts) reaches another room
 *   only through its entry: `src/<room>/index.ts`, or the file itself;
 * - a room imports only rooms on lower floors (FLOORS, bottom first): nothing imports upwards or
 *   sideways.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type IModule } from 'dependency-cruiser';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Bottom first; a room imports only rooms of the floors below its own. */
const FLOORS: readonly (readonly string[])[] = [
  ['errors', 'failpoints'],
  ['config'],
  ['db'],
  ['sql-runtime', 'schedule'],
  ['bronze', 'export'],
  ['transform', 'generate'],
  ['quality'],
  ['runs'],
  ['report'],
  ['docs'],
  ['pipeline'],
  ['cli'],
];

interface Edge {
  from: string;
  to: string;
}

/** `src/transform/compile.ts` → `transform`; `src/errors.ts` → `errors`; outside src/ → undefined. */
function roomOf(file: string): string | undefined {
  const parts = file.split('/');
  if (parts[0] !== 'src' || parts.length < 2) return undefined;
  return parts.length === 2 ? parts[1]!.replace(/\.ts$/, '') : parts[1];
}

/** The files through which other rooms reach `room`. */
function isEntry(file: string, room: string): boolean {
  return file === `src/${room}/index.ts` || file === `src/${room}.ts`;
}

/** Every import that breaks the room or floor rules, as `from -> to: why`. */
function roomViolations(edges: readonly Edge[], floors: readonly (readonly string[])[] = FLOORS): string[] {
  const floorOf = new Map(floors.flatMap((rooms, i) => rooms.map((r) => [r, i] as const)));
  const found: string[] = [];
  for (const { from, to } of edges) {
    const a = roomOf(from);
    const b = roomOf(to);
    if (a === undefined || b === undefined || a === b) continue;
    if (!isEntry(to, b)) found.push(`${from} -> ${to}: reach ${b} through src/${b}/index.ts`);
    const fa = floorOf.get(a);
    const fb = floorOf.get(b);
    if (fa === undefined || fb === undefined) found.push(`${from} -> ${to}: ${fa === undefined ? a : b} is on no floor`);
    else if (fb >= fa) found.push(`${from} -> ${to}: ${a} (floor ${fa}) may not import ${b} (floor ${fb})`);
  }
  return found;
}

describe('the import rules of src/', () => {
  let modules: IModule[];
  let edges: Edge[];

  beforeAll(async () => {
    const result = await cruise(
      ['src'],
      { baseDir: ROOT, tsPreCompilationDeps: true, exclude: { path: '\\.json$' }, doNotFollow: { path: 'node_modules' } },
      undefined,
      { tsConfig: { fileName: path.join(ROOT, 'tsconfig.json') } },
    );
    if (typeof result.output === 'string') throw new Error('dependency-cruiser returned text, not a module graph');
    modules = result.output.modules.filter((m) => m.source.startsWith('src/'));
    edges = modules.flatMap((m) => m.dependencies.filter((d) => !d.coreModule && d.resolved.startsWith('src/')).map((d) => ({ from: m.source, to: d.resolved })));
  }, 60_000);

  it('reads the whole of src/', () => {
    // a graph that lost its edges would pass every rule below
    expect(modules.length).toBeGreaterThan(80);
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual({ from: 'src/cli/main.ts', to: 'src/errors.ts' });
  });

  it('puts every room of src/ on exactly one floor', () => {
    const rooms = new Set(modules.map((m) => roomOf(m.source)!));
    const placed = FLOORS.flat();
    expect(new Set(placed).size).toBe(placed.length);
    expect([...rooms].sort()).toEqual([...placed].sort());
  });

  it('has no import cycle', () => {
    const cycles = modules.flatMap((m) => m.dependencies.filter((d) => d.circular).map((d) => `${m.source} -> ${d.resolved} (${(d.cycle ?? []).map((c) => c.name).join(' -> ')})`));
    expect(cycles).toEqual([]);
  });

  it('reaches another room only through its index.ts, and only downwards', () => {
    expect(roomViolations(edges)).toEqual([]);
  });

  it('names each kind of forbidden import', () => {
    const floors = [['errors'], ['db'], ['transform', 'generate'], ['quality']];
    expect(roomViolations([
      { from: 'src/quality/a.ts', to: 'src/transform/index.ts' },
      { from: 'src/quality/a.ts', to: 'src/errors.ts' },
      { from: 'src/transform/a.ts', to: 'src/transform/b.ts' },
    ], floors)).toEqual([]);
    expect(roomViolations([
      { from: 'src/quality/a.ts', to: 'src/transform/compile.ts' },
      { from: 'src/db/client.ts', to: 'src/transform/index.ts' },
      { from: 'src/transform/a.ts', to: 'src/generate/index.ts' },
      { from: 'src/transform/a.ts', to: 'src/nowhere/index.ts' },
    ], floors)).toEqual([
      'src/quality/a.ts -> src/transform/compile.ts: reach transform through src/transform/index.ts',
      'src/db/client.ts -> src/transform/index.ts: db (floor 1) may not import transform (floor 2)',
      'src/transform/a.ts -> src/generate/index.ts: transform (floor 2) may not import generate (floor 2)',
      'src/transform/a.ts -> src/nowhere/index.ts: nowhere is on no floor',
    ]);
  });
});
