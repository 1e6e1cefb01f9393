/**
 * Structural defects: applied to the stream of formatted records of one file, between the pure row
 * generators and the writer.
 *
 * Legal RFC 4180 quoting (quoted fields, commas, doubled quotes) changes a plain record in place:
 * it stays one record. Rejected kinds are *extra* records written after a real one (a damaged
 * re-send of it), so rejecting them takes nothing away from the real data and the semantic counts
 * stay exact. A newline inside quotes is one of them: no column of the six may hold a line break,
 * so the loader rejects both lines of such a record.
 *
 * An unclosed quote is a `"` opening a field with no other quote on the rest of the line. The loader
 * rejects that line alone and resumes at the next; to make sure no later quote can be taken for its
 * closing quote, no record containing a quote is written in the next QUOTE_GUARD_CHARS characters
 * (more than the loader's default field size limit): such defects wait until the guard has passed,
 * and unclosed quotes themselves wait until the file's other quote-bearing defects are written.
 */
import { RangeAssigner } from './prng.ts';
import { REJECT_REASONS, STRUCTURAL_KINDS, type StructuralKind } from './rates.ts';
import type { BatchWriter } from './writer.ts';

/** What a row generator says about the record it yields next. */
export interface RowContext {
  /** The record carries no semantic defect: legal quoting may change its text fields. */
  plain: boolean;
  /** The record starts a new unit (a record; for sales, an order). */
  unitStart: boolean;
}

export const newRowContext = (): RowContext => ({ plain: true, unitStart: true });

/** Which field each kind of change goes to, per file (0-based). */
export interface FieldChoice {
  /** Field quoted as is (quoted_plain) and damaged by the rejected kinds. */
  plain: number;
  /** Free-text fields for quoted_comma / quoted_newline / quoted_doubled_quote (null: none). */
  comma: number | null;
  newline: number | null;
  doubled: number | null;
}

export const QUOTE_GUARD_CHARS = 70_000;
const QUOTING: ReadonlySet<StructuralKind> = new Set(['invalid_quote', 'quoted_comma', 'quoted_newline', 'quoted_doubled_quote', 'quoted_plain']);

const quote = (v: string) => `"${v.replace(/"/g, '""')}"`;

export function commaVariant(v: string): string {
  const t = v.trim();
  if (t.includes('- ')) return t.replace('- ', ', ');
  if (t.includes(' and ')) return t.replace(' and ', ', ');
  return `${t}, Jr.`;
}

export function newlineVariant(v: string, eol: string): string {
  const t = v.trim();
  const sp = t.indexOf(' ');
  return sp > 0 ? `${t.slice(0, sp)}${eol}${t.slice(sp + 1)}` : `${t}${eol}Jr.`;
}

export function doubledQuoteVariant(v: string): string {
  const t = v.trim();
  return `${t} "${t.slice(0, Math.min(3, t.length)) || 'X'}"`;
}

export class StructuralInjector {
  readonly planned: Record<StructuralKind, number>;
  readonly done: Record<StructuralKind, number>;
  private readonly assigner: RangeAssigner<StructuralKind>;
  private readonly pending: StructuralKind[] = [];
  private unit = -1;
  private pendingUnclosed = 0;
  /** Planned quote-bearing defects (other than unclosed quotes) not written yet. */
  private quotingLeft = 0;
  private guardUntil = -1;

  constructor(
    private readonly writer: BatchWriter,
    private readonly fields: FieldChoice,
    planned: Record<StructuralKind, number>,
    units: number,
    key: number,
  ) {
    const kinds = Object.keys(STRUCTURAL_KINDS) as StructuralKind[];
    this.assigner = new RangeAssigner(units, key, kinds.map((k) => [k, planned[k]] as const));
    this.planned = Object.fromEntries(kinds.map((k) => [k, this.assigner.counts[k] ?? 0])) as Record<StructuralKind, number>;
    this.done = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<StructuralKind, number>;
    for (const k of QUOTING) this.quotingLeft += this.planned[k];
  }

  /** Writes one record, with the structural defect due at this point, if any. */
  write(line: string, ctx: RowContext): void {
    if (ctx.unitStart) {
      this.unit++;
      const kind = this.assigner.classOf(this.unit);
      if (kind === 'unclosed_quote') this.pendingUnclosed++;
      else if (kind) this.pending.push(kind);
    }
    const guarded = this.writer.chars < this.guardUntil;
    // an unclosed quote waits until the file's other quote-bearing defects are written
    const unclosedReady = this.pendingUnclosed > 0 && this.quotingLeft === 0 && !guarded;
    if (this.pending.length === 0 && !unclosedReady) {
      this.writer.record(line);
      return;
    }
    let kind: StructuralKind;
    const at = this.pending.findIndex((k) => !(guarded && QUOTING.has(k)) && (STRUCTURAL_KINDS[k] !== null || ctx.plain));
    if (at >= 0) {
      kind = this.pending.splice(at, 1)[0]!;
      if (QUOTING.has(kind)) this.quotingLeft--;
    } else if (unclosedReady) {
      kind = 'unclosed_quote';
      this.pendingUnclosed--;
    } else {
      this.writer.record(line);
      return;
    }
    this.done[kind]++;
    const w = this.writer;
    const f = line.split(',');
    const set = (i: number, v: string) => {
      f[i] = v;
      return f.join(',');
    };
    const p = this.fields.plain;
    switch (kind) {
      case 'quoted_plain':
        w.record(set(p, quote(f[p]!)));
        return;
      case 'quoted_comma':
        w.record(set(this.fields.comma!, quote(commaVariant(f[this.fields.comma!]!))));
        return;
      case 'quoted_doubled_quote':
        w.record(set(this.fields.doubled!, quote(doubledQuoteVariant(f[this.fields.doubled!]!))));
        return;
    }
    // rejected kinds: the real record, then a damaged copy of it
    w.record(line);
    switch (kind) {
      case 'field_missing':
        w.record(f.slice(0, -1).join(','));
        return;
      case 'field_extra':
        w.record(`${line},`);
        return;
      case 'quoted_newline':
        w.record(set(this.fields.newline!, quote(newlineVariant(f[this.fields.newline!]!, w.eol))), 1);
        return;
      case 'unclosed_quote':
        w.record(set(p, `"${f[p]}`));
        this.guardUntil = w.chars + QUOTE_GUARD_CHARS;
        return;
      case 'invalid_quote':
        w.record(set(p, `"${f[p]}"x`));
        return;
      case 'invalid_utf8':
        // Latin-1 bytes: 0xE9 followed by an ASCII byte is not UTF-8
        w.recordBytes(Buffer.from(set(p, `${f[p]}\u00e9`), 'latin1'));
        return;
      case 'nul_byte':
        w.record(set(p, `${f[p]}\u0000`));
        return;
    }
  }

  /**
   * Rejected lines per loader reject reason (a record with a newline inside quotes is two), the
   * records they make up, and counts per legal kind. `quoted_newline` stays among the legal kinds
   * with 0: no value with a newline reaches bronze.
   */
  summary(): { rejects: Record<string, number>; rejectedRecords: number; legal: Record<string, number>; kinds: Record<StructuralKind, number> } {
    const rejects: Record<string, number> = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0]));
    const legal: Record<string, number> = { quoted_newline: 0 };
    let rejectedRecords = 0;
    for (const [k, n] of Object.entries(this.done) as [StructuralKind, number][]) {
      const reason = STRUCTURAL_KINDS[k];
      if (reason) {
        rejects[reason]! += k === 'quoted_newline' ? 2 * n : n;
        rejectedRecords += n;
      } else legal[k] = n;
    }
    return { rejects, rejectedRecords, legal, kinds: { ...this.done } };
  }
}
