/**
 * `medallion generate`: writes the six synthetic source files (src/generate) and, with
 * --manifest, `_manifest.json`, the truth of what was written. Prints the timing.
 */
import path from 'node:path';
import { parseArgs } from '../config.ts';
import { DependencyError, EXIT, MedallionError } from '../errors.ts';
import { DEFAULT_STRUCTURAL_RATE, generate } from '../generate/index.ts';
import type { Command } from './command.ts';

const ACCEPTED = ['scale', 'seed', 'out', 'clean', 'structural-rate', 'manifest', 'quiet'] as const;

export const command: Command = {
  summary: 'write synthetic CRM/ERP source files with the real defects (seeded, streaming)',
  usage: [
    'usage: medallion generate [--scale N] [--seed S] [--out DIR] [--manifest] [--clean | --structural-rate R]',
    '',
    'Writes cust_info, cust_az12, loc_a101, prd_info, px_cat_g1v2 and sales_details (.csv) with the',
    'headers and formats of the real exports and every known defect at about the real rates.',
    '',
    '  --scale N             size relative to the real exports (default 1: ~18.5k customers,',
    '                        ~27.7k orders, ~60.4k sales lines); fractions work (0.01)',
    '  --seed S              random seed, a whole number (default 42); same scale + seed = same bytes',
    '  --out DIR             output folder (default seeds/bronze)',
    '  --manifest            also write DIR/_manifest.json: records, expected rejects and rows per file,',
    '                        and the count of every injected defect class',
    '  --clean               no structural defects (quoting, BOM, LF, bad records) and no orphans,',
    '                        duplicates, impossible dates or customers without ERP rows',
    `  --structural-rate R   fraction of records with a structural defect (default ${DEFAULT_STRUCTURAL_RATE})`,
    '  --quiet               print only the final line',
  ].join('\n'),
  async run(argv, io) {
    const { options } = parseArgs(argv, ACCEPTED, io.env);
    const scale = Number(options.scale ?? 1);
    const seed = Number(options.seed ?? 42);
    const outDir = path.resolve(io.cwd, typeof options.out === 'string' ? options.out : 'seeds/bronze');
    const clean = options.clean === true;
    const structuralRate = options['structural-rate'] !== undefined ? Number(options['structural-rate']) : undefined;
    let manifest: Awaited<ReturnType<typeof generate>>;
    try {
      manifest = await generate({ scale, seed, outDir, clean, structuralRate, manifest: options.manifest === true, signal: io.signal });
    } catch (err) {
      if (err instanceof MedallionError) throw err;
      const e = err as NodeJS.ErrnoException;
      if (e?.code && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
        throw new DependencyError('IO_ERROR', `could not write the generated files to ${outDir}: ${e.message}`, { file: outDir, hint: 'Check that the folder is writable and the disk has room.' }, { cause: err });
      }
      throw err;
    }
    const { files, entities, timing } = manifest;
    if (options.quiet !== true) {
      for (const f of Object.values(files)) {
        const extras = [f.bom ? 'BOM' : '', f.lineEnding === 'LF' ? 'LF' : '', f.rejects ? `${f.rejects} to reject` : ''].filter(Boolean).join(', ');
        io.stdout.write(`  ${f.file.padEnd(20)} ${String(f.records).padStart(11)} records ${(f.bytes / 1e6).toFixed(1).padStart(9)} MB${extras ? `  (${extras})` : ''}\n`);
      }
    }
    const t = timing!;
    io.stdout.write(
      `generated ${entities.customers} customers, ${entities.orders} orders, ${entities.salesLines} sales lines, ${entities.productVersions} product versions in ${path.relative(io.cwd, outDir) || '.'} ` +
        `(scale ${scale}, seed ${seed}${clean ? ', clean' : ''}) in ${t.seconds.toFixed(2)} s; sales_details: ${t.salesSeconds.toFixed(2)} s, ` +
        `${Math.round(t.salesLinesPerSecond).toLocaleString('en-US')} lines/s; customer files: ${t.customerFilesSeconds.toFixed(2)} s` +
        `${options.manifest === true ? '; manifest: _manifest.json' : ''}\n`,
    );
    return EXIT.ok;
  },
};
