/// <reference lib="dom" />
/** The site's data, read once from the page's `#docs-data` element, with lookups by name. */
import type { DocsData, DocsModelPage } from '../site.ts';

export type { DocsData, DocsModelPage };
export type DocsSourcePage = DocsData['sources'][number];
export type DocsColumn = DocsModelPage['columns'][number];

export interface Site {
  data: DocsData;
  models: Map<string, DocsModelPage>;
  /** By bronze relation (`bronze.cust_info`) and by source id (`source:cust_info`). */
  sources: Map<string, DocsSourcePage>;
  /** Every node id of the graph. */
  nodes: Set<string>;
}

export function readSite(): Site {
  const data = JSON.parse(document.getElementById('docs-data')!.textContent ?? '{}') as DocsData;
  const sources = new Map<string, DocsSourcePage>();
  for (const s of data.sources) {
    sources.set(s.relation, s);
    sources.set(`source:${s.name}`, s);
  }
  return { data, models: new Map(data.models.map((m) => [m.name, m])), sources, nodes: new Set(data.graph.nodes.map((n) => n.id)) };
}

/** The nodes reachable from `start` against (`up`) or along (`down`) the edges. */
export function reachable(data: DocsData, start: string, dir: 'up' | 'down'): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length) {
    const id = stack.pop()!;
    for (const e of data.graph.edges) {
      const next = dir === 'up' ? (e.to === id ? e.from : null) : e.from === id ? e.to : null;
      if (next && !seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}
