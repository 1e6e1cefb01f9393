/**
 * `npm run docs:cli`: rewrites the option tables of README.md and docs/cli.md (each
 * `<!-- options:COMMAND -->` … `<!-- /options -->` block) from OPTIONS of src/config.ts. `--check`
 * writes nothing and exits 1 when either is out of date.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { withOptionTables } from '../src/cli/help.ts';

for (const name of ['README.md', 'docs/cli.md']) {
  const file = new URL(`../${name}`, import.meta.url);
  const before = await readFile(file, 'utf8');
  const after = withOptionTables(before);
  if (process.argv.includes('--check')) {
    if (after !== before) {
      process.stderr.write(`${name}: the option tables differ from OPTIONS in src/config.ts; run \`npm run docs:cli\`\n`);
      process.exitCode = 1;
    }
  } else if (after !== before) {
    await writeFile(file, after);
    process.stdout.write(`${name}: option tables rewritten\n`);
  } else process.stdout.write(`${name}: option tables up to date\n`);
}
