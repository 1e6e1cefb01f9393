/**
 * `medallion generate`: writes the six synthetic source files (src/generate) and, with
 * --manifest, `_manifest.json`, the truth of what was written. Prints the timing. With --days N, the
 * base snapshot goes to DIR/day-00 and N daily snapshots follow (src/generate/days.ts), one line each.
 */
import path from 'node:path';
import { defaultOf } from '../config.ts';
import { DependencyError, EXIT, fromFileSystemError, MedallionError, UsageError } from '../errors.ts';
import type { DayManifest, Manifest } from '../generate/index.ts';
import type { Command } from './command.ts';

export const command: Command = {
  summary: 'write synthetic CRM/ERP source files with the real defects (seeded, streaming)',
  description: `Writes cust_info, cust_az12, loc_a101, prd_info, px_cat_g1v2 and sales_details (.csv) with the
headers and formats of the real exports and every known defect at about the real rates
(scale 1: ~18.5k customers, ~27.7k orders, ~60.4k sales lines). --clean and --structural-rate
exclude each other. --days N writes the base snapshot to DIR/day-00 and then DIR/day-01..day-NN, each
the six files as exported that day: the day before's rows plus new customers and orders, late
lines, customer updates, a deleted customer (days 3, 10, ...) and a new product version (days 7,
14, ...); with --manifest each day folder's _manifest.json lists its changes.`,
  async run({ options }, io) {
    const { generate, generateDays } = await import('../generate/index.ts');
    const value = (name: 'scale' | 'seed' | 'structural-rate') => Number(options[name] ?? defaultOf(name, 'generate'));
    const scale = value('scale');
    const seed = value('seed');
    const outDir = path.resolve(io.cwd, String(options.out ?? defaultOf('out', 'generate')));
    const clean = options.clean === true;
    if (clean && options['structural-rate'] !== undefined) throw new UsageError('CONFIG_INVALID', ['--clean and --structural-rate exclude each other (--clean writes no structural defect)']);
    const structuralRate = value('structural-rate');
    const days = options.days === undefined ? 0 : Number(options.days);
    const quiet = options.quiet === true;
    let manifest: Awaited<ReturnType<typeof generate>>;
    let added = { customers: 0, lines: 0, seconds: 0 };
    const printFiles = (files: Manifest['files']) => {
      if (quiet) return;
      for (const f of Object.values(files)) {
        const extras = [f.bom ? 'BOM' : '', f.lineEnding === 'LF' ? 'LF' : '', f.rejects ? `${f.rejects} to reject` : ''].filter(Boolean).join(', ');
        io.stdout.write(`  ${f.file.padEnd(20)} ${String(f.records).padStart(11)} records ${(f.bytes / 1e6).toFixed(1).padStart(9)} MB${extras ? `  (${extras})` : ''}\n`);
      }
    };
    try {
      const common = { scale, seed, clean, structuralRate, manifest: options.manifest === true, signal: io.signal };
      if (days > 0) {
        const onBase = (base: Manifest, folder: string) => {
          if (!quiet) io.stdout.write(`${folder} (the base snapshot):\n`);
          printFiles(base.files);
        };
        const onDay = (day: DayManifest, folder: string, seconds: number) => {
          const c = day.changes;
          added = { customers: added.customers + c.newCustomers.count, lines: added.lines + c.newLines + c.lateLines.count, seconds: added.seconds + seconds };
          if (quiet) return;
          const events = [
            ...c.deletedCustomerIds.map((id) => `deleted customer ${id}`),
            ...c.newProductVersions.map((v) => `new version of ${v.prdKey} (prd_id ${v.prdId}, cost ${v.cost})`),
          ];
          io.stdout.write(
            `${folder} ${day.date}: +${c.newCustomers.count} customers, +${c.newOrders} orders (${c.newLines} lines), ${c.lateLines.count} late lines, ` +
              `${c.updatedCustomers.count} updated customers${events.length ? `, ${events.join(', ')}` : ''} (${seconds.toFixed(2)} s)\n`,
          );
        };
        manifest = (await generateDays({ ...common, outDir, days }, { onBase, onDay })).base;
      } else {
        manifest = await generate({ ...common, outDir });
        printFiles(manifest.files);
      }
    } catch (err) {
      if (err instanceof MedallionError) throw err;
      // a folder this user may not write is the configuration's (exit 2), a full disk exit 3
      const fileSystem = fromFileSystemError(err);
      if (fileSystem) throw fileSystem;
      const e = err as NodeJS.ErrnoException;
      if (e?.code && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
        throw new DependencyError('IO_ERROR', `could not write the generated files to ${outDir}: ${e.message}`, { file: outDir, hint: 'Check that the folder is writable and the disk has room.' }, { cause: err });
      }
      throw err;
    }
    const { entities, timing } = manifest;
    const t = timing!;
    io.stdout.write(
      `generated ${entities.customers} customers, ${entities.orders} orders, ${entities.salesLines} sales lines, ${entities.productVersions} product versions in ${path.relative(io.cwd, outDir) || '.'} ` +
        `(scale ${scale}, seed ${seed}${clean ? ', clean' : ''}) in ${t.seconds.toFixed(2)} s; sales_details: ${t.salesSeconds.toFixed(2)} s, ` +
        `${Math.round(t.salesLinesPerSecond).toLocaleString('en-US')} lines/s; customer files: ${t.customerFilesSeconds.toFixed(2)} s` +
        `${days > 0 ? `; ${days} daily snapshots after it (+${added.customers} customers, +${added.lines} sales lines in ${added.seconds.toFixed(2)} s)` : ''}` +
        `${options.manifest === true ? `; manifest: _manifest.json${days > 0 ? ' in each day folder' : ''}` : ''}\n`,
    );
    return EXIT.ok;
  },
};
