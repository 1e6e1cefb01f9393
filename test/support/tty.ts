/** A terminal as the logger sees it: isTTY, a width and a height, and what was written to it. */
import { Writable } from 'node:stream';

export type FakeTty = Writable & { isTTY: boolean; columns: number; rows: number; text: () => string };

export function fakeTty(columns = 100, rows = 24): FakeTty {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as FakeTty;
  w.isTTY = true;
  w.columns = columns;
  w.rows = rows;
  w.text = () => chunks.join('');
  return w;
}
