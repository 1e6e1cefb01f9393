/**
 * `npm run perf-doc -- [--results bench/results] [--data docs/performance-data] [--out docs/performance.md] [--check]`
 *
 * Writes docs/performance.md from the bench's results, so the figures there are always the ones a
 * bench run produced:
 *   1. for each scale, the newest bench/results/<date>-<scale>.json (by the time it finished) of a
 *      run of every stage (a run of some stages, `--stages`, is marked partial and left out) is
 *      copied to docs/performance-data/scale-<scale>.json when it is newer than the one there
 *      (bench/results/ is git-ignored; docs/performance-data/ is tracked, so the doc can be
 *      rebuilt from tracked files alone);
 *   2. docs/performance.md is rendered from every docs/performance-data/scale-*.json: per scale,
 *      the command, the machine, one table of the stages (ours, the baseline, the ratio, the
 *      target, peak RSS) and what the runs of a stage did, where the bench says it (the next day's
 *      build: files kept and loaded, changes found, export files reused).
 * With --check nothing is copied or written: exits 1 when docs/performance.md differs from what
 * the tracked data renders to.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** One stage as bench/run.ts writes it. */
export interface BenchStage {
  stage: string;
  baseline: string;
  ours: (number | null)[];
  base: (number | null)[];
  rows: number;
  bytes: number;
  peakRssMb?: number;
  /** What the runs of this stage did, in words. */
  note?: string;
  oursMedian: number | null;
  baseMedian: number | null;
  ratio: number | null;
}

/** One bench/results/<date>-<scale>.json. The machine fields are absent in files of older benches. */
export interface BenchResult {
  scale: number;
  seed: number;
  repeat: number;
  command?: string;
  /** The stages run (`--stages`); absent in files of older benches, which ran them all. */
  stages?: string[];
  /** Set when `--stages` left some stages out: such a result never replaces a tracked one. */
  partial?: boolean;
  startedAt?: string;
  finishedAt?: string;
  loadAverageAtStart?: number;
  /** What `medallion` ran: 'dist' or 'src through tsx'. */
  cli?: string;
  cpus: number;
  cpu?: string;
  memoryBytes?: number;
  os?: string;
  node: string;
  postgres: string;
  sharedBuffers?: string;
  results: BenchStage[];
}

/**
 * The targets, by stage and baseline as bench/run.ts names them. They are set for scale 100
 * (6M sales lines); at small scales Node's start-up is a larger share of every stage.
 */
export interface Target {
  stage: string;
  baseline?: string;
  maxRatio?: number;
  /** The ratio aimed at beyond the target (shown, not judged). */
  goalRatio?: number;
  maxPeakRssMb?: number;
}

export const TARGETS: readonly Target[] = [
  { stage: 'bronze load', baseline: 'psql \\copy', maxRatio: 1.0 },
  { stage: 'silver+gold', baseline: 'floor skeleton', maxRatio: 2.5 },
  { stage: 'customer_training_set chain', baseline: 'customer_features chain', maxRatio: 3 },
  { stage: 'export fact_sales', baseline: 'psql csv + DuckDB parquet', maxRatio: 1.0 },
  { stage: 'export all gold tables', maxPeakRssMb: 400 },
  { stage: 'medallion build', maxPeakRssMb: 400 },
  { stage: 'full build (day 0)', maxPeakRssMb: 400 },
  { stage: "next day's build", baseline: 'full build (day 0)', maxRatio: 0.1, goalRatio: 0.05, maxPeakRssMb: 400 },
  { stage: 'the day after (no new cutoff)', baseline: 'full build (day 0)', maxRatio: 0.1, goalRatio: 0.05, maxPeakRssMb: 400 },
];

/** The target in words: "ratio ≤ 0.10 (goal 0.05)", "peak < 400 MB", or both. */
function targetParts(t: Target, peakWord: string): string[] {
  return [
    ...(t.maxRatio !== undefined ? [`ratio ≤ ${t.maxRatio.toFixed(2)}${t.goalRatio !== undefined ? ` (goal ${t.goalRatio.toFixed(2)})` : ''}`] : []),
    ...(t.maxPeakRssMb !== undefined ? [`${peakWord} < ${t.maxPeakRssMb} MB`] : []),
  ];
}

function targetOf(s: BenchStage): Target | undefined {
  return TARGETS.find((t) => t.stage === s.stage.trim() && (t.baseline === undefined || t.baseline === s.baseline));
}

const seconds = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${x.toFixed(2)} s`);

/** "12.34 s", or with several runs "12.34 s (11.90–13.02)": the median, then the range. */
function timeCell(median: number | null, runs: (number | null)[]): string {
  const xs = runs.filter((x): x is number => typeof x === 'number' && !Number.isNaN(x));
  if (median === null || xs.length === 0) return '–';
  return xs.length > 1 ? `${seconds(median)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})` : seconds(median);
}

function verdict(s: BenchStage): { target: string; met: string } {
  const t = targetOf(s);
  if (!t) return { target: '', met: '' };
  let met = true;
  let measured = false;
  if (t.maxRatio !== undefined) {
    if (s.ratio !== null) {
      measured = true;
      met &&= s.ratio <= t.maxRatio;
    }
  }
  if (t.maxPeakRssMb !== undefined) {
    if (s.peakRssMb !== undefined) {
      measured = true;
      met &&= s.peakRssMb < t.maxPeakRssMb;
    }
  }
  return { target: targetParts(t, 'peak').join(', '), met: measured ? (met ? 'met' : '**missed**') : '–' };
}

const escapeCell = (text: string) => text.replaceAll('|', '\\|');

/** The stage table of one scale, in the bench's order; indented stage names are sub-rows. */
export function stageTable(result: BenchResult): string {
  const lines = ['| stage | ours | baseline | baseline time | ratio | target | status | peak RSS |', '|---|---|---|---|---|---|---|---|'];
  for (const s of result.results) {
    const sub = /^\s+/.test(s.stage);
    const name = `${sub ? '&nbsp;&nbsp;' : ''}${escapeCell(s.stage.trim())}`;
    const hasBaseline = s.base.length > 0;
    const { target, met } = verdict(s);
    lines.push(
      `| ${[
        name,
        timeCell(s.oursMedian, s.ours),
        escapeCell(s.baseline),
        hasBaseline ? timeCell(s.baseMedian, s.base) : '',
        s.ratio === null || Number.isNaN(s.ratio) ? '' : s.ratio.toFixed(2),
        target,
        met,
        s.peakRssMb ? `${Math.round(s.peakRssMb)} MB` : '',
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** The machine and the software, as the bench recorded them. */
export function machineLine(r: BenchResult): string {
  const parts = [`${r.cpus} cores${r.cpu ? ` (${r.cpu.trim()})` : ''}`];
  if (r.memoryBytes) parts.push(`${(r.memoryBytes / 2 ** 30).toFixed(1)} GiB memory`);
  if (r.os) parts.push(r.os);
  parts.push(`Node ${r.node}`);
  parts.push(`PostgreSQL ${r.postgres}${r.sharedBuffers ? ` (shared_buffers ${r.sharedBuffers})` : ''}`);
  if (r.loadAverageAtStart !== undefined) parts.push(`load average ${r.loadAverageAtStart.toFixed(2)} at the start`);
  if (r.cli) parts.push(`medallion ran ${r.cli}`);
  return parts.join(', ');
}

export function renderPerformanceDoc(results: readonly BenchResult[]): string {
  const sorted = [...results].sort((a, b) => a.scale - b.scale);
  const out: string[] = [
    '# Performance',
    '',
    '<!-- Written by `npm run perf-doc` (bench/performance-doc.ts) from docs/performance-data/*.json; edit those by running the bench, not this file. -->',
    '',
    'Each stage is timed against its physical baseline in the same run, on the same machine,',
    'interleaved, by `npm run bench` (bench/run.ts). `ratio` = our time / the baseline\'s (lower is',
    'better; 1.00 = as fast as the baseline). Times are medians over the repeats, with the range when',
    'there is more than one run. Peak RSS is the peak resident memory of our process',
    '(`/usr/bin/time`\'s KB / 1024). The load average at the start says how busy the machine was:',
    'above its core count, other work shared it and single figures vary widely.',
    '',
    'Targets, set for scale 100 (6M sales lines; at smaller scales Node\'s start-up is a larger share',
    'of every stage):',
    '',
    ...TARGETS.map((t) => `- ${t.stage}${t.baseline ? ` against ${t.baseline}` : ''}: ${targetParts(t, 'peak RSS').join(', ')}`),
    '',
    'Every timed run does the whole work its row names (fresh targets, `--full-refresh`, emptied',
    'export folders), except the daily rows, which time what change detection and the incremental',
    'models save: the cron\'s builds of `generate --days 2`\'s day-01 (a cutoff enters the training',
    'set\'s schedule, as on about one day a month) and day-02 (none does) into the target that holds',
    'the day before, and day-02 once more with nothing changed. Each daily build starts as a cron run',
    'a day after the last would, with the writes of the build before it done (a checkpoint, then',
    '`sync`); the daily stage runs without the other stages\' target in the database.',
    '',
    'To refresh: `npm run bench -- --scale N --repeat R` (every stage: a run of some stages only is',
    'not taken), then `npm run perf-doc`, and commit docs/performance-data/ with docs/performance.md.',
  ];
  if (sorted.length === 0) out.push('', 'No results yet.');
  for (const r of sorted) {
    out.push(
      '',
      `## Scale ${r.scale}`,
      '',
      `- Command: \`${r.command ?? `npm run bench -- --scale ${r.scale} --repeat ${r.repeat} --seed ${r.seed}`}\` (seed ${r.seed}, ${r.repeat} run${r.repeat === 1 ? '' : 's'} of each stage${r.finishedAt ? `, finished ${r.finishedAt.slice(0, 16).replace('T', ' ')} UTC` : ''})`,
      `- Machine: ${machineLine(r)}`,
      '',
      stageTable(r),
    );
    const notes = r.results.filter((s) => s.note);
    if (notes.length) out.push('', ...notes.map((s) => `- ${s.stage.trim()}: ${s.note}`));
  }
  return `${out.join('\n')}\n`;
}

/** When a result was measured: its finishedAt, else the date in its file name. */
function measuredAt(r: BenchResult, file: string): string {
  return r.finishedAt ?? /(\d{4}-\d{2}-\d{2})/.exec(path.basename(file))?.[1] ?? '';
}

async function readResult(file: string): Promise<BenchResult> {
  const r = JSON.parse(await readFile(file, 'utf8')) as BenchResult;
  if (typeof r.scale !== 'number' || !Array.isArray(r.results)) throw new Error(`${file}: not a bench result (no scale or results)`);
  return r;
}

/** Copies the newest result of each scale from `resultsDir` into `dataDir` when it is newer. Returns the files copied. */
export async function importLatestResults(resultsDir: string, dataDir: string): Promise<string[]> {
  if (!existsSync(resultsDir)) return [];
  const newest = new Map<number, { file: string; at: string }>();
  for (const name of (await readdir(resultsDir)).filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(resultsDir, name);
    const r = await readResult(file);
    if (r.partial) continue;
    const at = measuredAt(r, file);
    const seen = newest.get(r.scale);
    if (!seen || at >= seen.at) newest.set(r.scale, { file, at });
  }
  await mkdir(dataDir, { recursive: true });
  const copied: string[] = [];
  for (const [scale, { file, at }] of newest) {
    const tracked = path.join(dataDir, `scale-${scale}.json`);
    if (existsSync(tracked) && measuredAt(await readResult(tracked), tracked) >= at) continue;
    await copyFile(file, tracked);
    copied.push(tracked);
  }
  return copied;
}

export async function readTrackedResults(dataDir: string): Promise<BenchResult[]> {
  if (!existsSync(dataDir)) return [];
  const files = (await readdir(dataDir)).filter((n) => /^scale-.+\.json$/.test(n));
  return Promise.all(files.map((n) => readResult(path.join(dataDir, n))));
}

interface DocArgs {
  results: string;
  data: string;
  out: string;
  check: boolean;
}

function parseDocArgs(argv: string[]): DocArgs {
  const args: DocArgs = { results: path.join(ROOT, 'bench/results'), data: path.join(ROOT, 'docs/performance-data'), out: path.join(ROOT, 'docs/performance.md'), check: false };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.split('=');
    if (name === '--check') {
      args.check = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value`);
    if (name === '--results') args.results = path.resolve(value);
    else if (name === '--data') args.data = path.resolve(value);
    else if (name === '--out') args.out = path.resolve(value);
    else throw new Error(`unknown option ${name}; usage: npm run perf-doc -- [--results DIR] [--data DIR] [--out FILE] [--check]`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseDocArgs(process.argv.slice(2));
  if (args.check) {
    const want = renderPerformanceDoc(await readTrackedResults(args.data));
    const have = existsSync(args.out) ? await readFile(args.out, 'utf8') : '';
    if (want !== have) {
      console.error(`${path.relative(process.cwd(), args.out)} is not what ${path.relative(process.cwd(), args.data)} renders to: run npm run perf-doc`);
      process.exitCode = 1;
    }
    return;
  }
  for (const f of await importLatestResults(args.results, args.data)) console.log(`copied ${path.relative(process.cwd(), f)}`);
  await mkdir(path.dirname(args.out), { recursive: true });
  await writeFile(args.out, renderPerformanceDoc(await readTrackedResults(args.data)));
  console.log(`written ${path.relative(process.cwd(), args.out)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`perf-doc failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
