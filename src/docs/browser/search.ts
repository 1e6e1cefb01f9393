/// <reference lib="dom" />
/**
 * The search box: matches node names (models, bronze tables, source files, exports) and model
 * columns (`fact_sales.age`). While typing, the graph pans to the first node that matches; Enter
 * or a click opens the page of the highlighted result.
 */
import type { Site } from './data.ts';
import { h, pageHref } from './dom.ts';

export interface SearchHit {
  /** Page to open: a node id, or `model/column`. */
  href: string;
  /** Graph node to pan to. */
  node: string;
  text: string;
  kind: string;
}

export function searchHits(site: Site, query: string): SearchHit[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const scored: { hit: SearchHit; score: number }[] = [];
  const score = (name: string) => {
    const n = name.toLowerCase();
    const short = n.slice(n.indexOf('.') + 1);
    if (n === q || short === q) return 0;
    if (n.startsWith(q) || short.startsWith(q)) return 1;
    return n.includes(q) ? 2 : -1;
  };
  for (const n of site.data.graph.nodes) {
    const best = [score(n.id), score(n.label)].filter((x) => x >= 0);
    if (best.length) scored.push({ hit: { href: pageHref(n.id), node: n.id, text: n.id, kind: n.kind }, score: Math.min(...best) });
  }
  for (const m of site.data.models)
    for (const c of m.columns) {
      const s = score(`${m.name}.${c.name}`) >= 0 ? 3 : c.name.toLowerCase().includes(q) ? 4 : -1;
      if (s >= 0) scored.push({ hit: { href: `${pageHref(m.name)}/${encodeURIComponent(c.name)}`, node: m.name, text: `${m.name}.${c.name}`, kind: 'column' }, score: s });
    }
  return scored.sort((a, b) => a.score - b.score || a.hit.text.localeCompare(b.hit.text)).map((x) => x.hit);
}

/** Wires the box; `onMatches` gets the node ids that match (empty when the box is cleared). */
export function wireSearch(site: Site, onMatches: (nodes: string[]) => void): void {
  const input = document.getElementById('search') as HTMLInputElement;
  const list = document.getElementById('search-results') as HTMLUListElement;
  let hits: SearchHit[] = [];
  let active = 0;
  const render = () => {
    list.textContent = '';
    hits.slice(0, 30).forEach((hit, i) => {
      const li = h('li', { role: 'option', 'data-href': hit.href, class: i === active ? 'active' : '' }, [hit.text, h('small', { text: hit.kind })]);
      li.addEventListener('mousedown', (ev) => {
        ev.preventDefault();
        open(hit);
      });
      list.append(li);
    });
    list.hidden = hits.length === 0;
  };
  const open = (hit: SearchHit) => {
    list.hidden = true;
    input.blur();
    location.hash = hit.href;
  };
  input.addEventListener('input', () => {
    hits = searchHits(site, input.value);
    active = 0;
    render();
    onMatches([...new Set(hits.filter((x) => x.kind !== 'column').map((x) => x.node))]);
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      active = Math.max(0, Math.min(hits.length - 1, active + (ev.key === 'ArrowDown' ? 1 : -1)));
      render();
      if (hits[active]) onMatches([hits[active]!.node]);
    } else if (ev.key === 'Enter' && hits[active]) open(hits[active]!);
    else if (ev.key === 'Escape') list.hidden = true;
  });
  input.addEventListener('blur', () => {
    list.hidden = true;
  });
  input.addEventListener('focus', () => render());
}
