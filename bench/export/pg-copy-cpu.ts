/**
 * PostgreSQL's own CPU time (and Node's, for pg-copy-streams alone) for one COPY ... TO STDOUT (read from /proc of the backend, so the
 * server must run on this machine), with the output drained and discarded by Node.
 * Usage: npx tsx bench/export/pg-copy-cpu.ts "select * from S.T" [text|binary|csv] [repeat] [ours|pg-copy-streams]
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { CopyOutStream } from '../../src/export/copy-out.ts';

const [select = 'select * from xp10_gold.fact_sales', format = 'text', repeat = '1', reader = 'ours'] = process.argv.slice(2);
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid as number;
const cpu = () => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')')[1]!.trim().split(/\s+/);
  return (Number(f[11]) + Number(f[12])) / 100;
};
for (let i = 0; i < Number(repeat); i++) {
  const c0 = cpu();
  const n0 = process.cpuUsage();
  const t0 = performance.now();
  let bytes = 0;
  const opts = format === 'text' ? '' : format === 'csv' ? '(format csv, header)' : '(format binary)';
  for await (const chunk of client.query(reader === 'ours' ? new CopyOutStream(`copy (${select}) to stdout ${opts}`) : copyTo(`copy (${select}) to stdout ${opts}`)) as AsyncIterable<Uint8Array>) bytes += chunk.length;
  console.log(JSON.stringify({ reader, format, pgCpuSeconds: Number((cpu() - c0).toFixed(2)), nodeCpuSeconds: Number((((u) => u.user + u.system)(process.cpuUsage(n0)) / 1e6).toFixed(2)), wallSeconds: Number(((performance.now() - t0) / 1000).toFixed(2)), mb: Math.round(bytes / 1e6) }));
}
await client.end();
