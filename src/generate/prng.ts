/**
 * Pure, seeded randomness for the generator: no Math.random, no clock.
 *
 * - `hash32(seed, ...keys)`: a 32-bit hash that derives independent streams from the user's seed and
 *   a label (`rngFor(seed, 'customer', 17)`), so each entity's attributes are a pure function of
 *   (seed, label, index) and the files can be written in separate passes that agree with each other.
 * - `Rng`: sfc32 (small fast counter PRNG), seeded through splitmix32.
 * - `Permutation`: a bijection of [0, n) (4-round Feistel network with cycle walking). Defect
 *   classes take disjoint ranges of the permuted index, which gives exact counts, no overlap
 *   between classes, random-looking positions and O(1) memory at any scale.
 */

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of a seed and labels (strings or integers). */
export function hash32(seed: number, ...keys: (string | number)[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const k of keys) {
    if (typeof k === 'number') {
      h = fmix32(h ^ fmix32((k >>> 0) + 0x7f4a7c15));
      h = fmix32(h ^ Math.floor(k / 4294967296));
    } else {
      for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
      h = fmix32(h ^ k.length);
    }
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the four words
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
    for (let i = 0; i < 8; i++) this.u32();
  }

  /** Next 32-bit unsigned integer (sfc32). */
  u32(): number {
    const a = this.a, b = this.b, c = this.c, d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.c = (r + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Index drawn with the given (not necessarily normalised) weights. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** Index drawn from a cumulative weight table (see cumulative()). */
  fromCumulative(cumulative: Float64Array): number {
    return searchCumulative(cumulative, this.next() * cumulative[cumulative.length - 1]!);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

export function rngFor(seed: number, ...keys: (string | number)[]): Rng {
  return new Rng(hash32(seed, ...keys));
}

export function cumulative(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let t = 0;
  weights.forEach((w, i) => {
    t += w;
    out[i] = t;
  });
  return out;
}

/** Index of the first element of the ascending cumulative array greater than x. */
export function searchCumulative(cumulative: Float64Array | readonly number[], x: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * A pseudo-random bijection of [0, n): an unbalanced 4-round Feistel network on the smallest
 * power of two >= n (so cycle walking takes fewer than 2 steps on average).
 */
export class Permutation {
  readonly n: number;
  private readonly hi: number;
  private readonly lo: number;
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;

  constructor(n: number, key: number) {
    this.n = Math.max(1, Math.floor(n));
    if (this.n > 2 ** 30) throw new RangeError(`Permutation: population ${this.n} is above 2^30`);
    let bits = 2;
    while (2 ** bits < this.n) bits++;
    this.hi = Math.ceil(bits / 2);
    this.lo = bits - this.hi;
    this.k0 = hash32(key, 'feistel', 0);
    this.k1 = hash32(key, 'feistel', 1);
    this.k2 = hash32(key, 'feistel', 2);
    this.k3 = hash32(key, 'feistel', 3);
  }

  private encrypt(x: number): number {
    // x = l (hi bits) | r (lo bits); each round: (l, r) -> (r, l ^ F(r)), the widths swap
    const a = this.hi;
    const b = this.lo;
    const ma = (1 << a) - 1;
    const mb = (1 << b) - 1;
    let l = x >>> b; // a bits
    let r = x & mb; // b bits
    let t = r;
    r = (l ^ fmix32((r ^ this.k0) >>> 0)) & ma; // a bits
    l = t; // b bits
    t = r;
    r = (l ^ fmix32((r ^ this.k1) >>> 0)) & mb; // b bits
    l = t; // a bits
    t = r;
    r = (l ^ fmix32((r ^ this.k2) >>> 0)) & ma;
    l = t;
    t = r;
    r = (l ^ fmix32((r ^ this.k3) >>> 0)) & mb;
    l = t;
    return ((l << b) | r) >>> 0;
  }

  at(i: number): number {
    let x = this.encrypt(i);
    while (x >= this.n) x = this.encrypt(x);
    return x;
  }
}

/**
 * Disjoint ranges of a permuted population: class `k` owns the indices whose permuted position
 * falls in its range. Counts are exact (clamped to the population), classes never overlap.
 */
export class RangeAssigner<K extends string> {
  private readonly perm: Permutation;
  private readonly bounds: number[] = [];
  private readonly names: K[] = [];
  readonly counts: Record<string, number> = {};

  constructor(population: number, key: number, wanted: readonly (readonly [K, number])[]) {
    this.perm = new Permutation(population, key);
    let at = 0;
    for (const [name, want] of wanted) {
      const n = Math.max(0, Math.min(want, population - at));
      this.counts[name] = (this.counts[name] ?? 0) + n;
      if (n === 0) continue;
      at += n;
      this.bounds.push(at);
      this.names.push(name);
    }
    this.total = at;
  }

  readonly total: number;

  /** The class of member i, or undefined. */
  classOf(i: number): K | undefined {
    if (this.total === 0) return undefined;
    const p = this.perm.at(i);
    if (p >= this.total) return undefined;
    for (let j = 0; j < this.bounds.length; j++) if (p < this.bounds[j]!) return this.names[j];
    return undefined;
  }
}
