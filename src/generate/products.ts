/** Row generators of prd_info.csv and px_cat_g1v2.csv (the catalogue is built in product-catalog.ts). */
import type { Catalog } from './product-catalog.ts';
import type { RowContext } from './rows.ts';

export interface ProductStats {
  endBeforeStart: number;
  costMissing: number;
  categoryUnknown: number;
  lineBlank: number;
}

export function* prdInfoRows(catalog: Catalog, ctx: RowContext, stats: ProductStats): Generator<string> {
  const known = new Set(catalog.categories.map((c) => c.id.replace('_', '-')));
  for (const p of catalog.products) {
    const unknownCategory = !known.has(p.prdKey.slice(0, 5));
    for (const v of p.versions) {
      if (v.end) stats.endBeforeStart++;
      if (v.cost === '') stats.costMissing++;
      if (unknownCategory) stats.categoryUnknown++;
      if (p.line === '') stats.lineBlank++;
      ctx.plain = !v.end && v.cost !== '' && !unknownCategory;
      yield `${v.prdId},${p.prdKey},${p.name},${v.cost},${p.line},${v.start},${v.end}`;
    }
  }
}

export function* pxCatRows(catalog: Catalog, ctx: RowContext): Generator<string> {
  for (const c of catalog.categories) {
    ctx.plain = true;
    yield `${c.id},${c.cat},${c.subcat},${c.maintenance}`;
  }
}
