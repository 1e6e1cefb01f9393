/// <reference lib="dom" />
/** Small DOM helpers of the docs page script. */

export type Child = Node | string | null | undefined | false;

/** An HTML element with attributes (`text` sets its text) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, children: Child[] = []): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, parent?: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.append(e);
  return e;
}

export function fmt(n: number | null | undefined): string {
  return n == null ? '—' : Number(n).toLocaleString('en-US');
}

export function badge(status: string): HTMLElement {
  return h('span', { class: `badge ${status}`, text: status });
}

export function table(headers: string[], rows: Child[][], attrs: Record<string, string> = {}): HTMLTableElement {
  return h('table', attrs, [
    h('thead', {}, [h('tr', {}, headers.map((x) => h('th', { text: x })))]),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, [c ?? ''])))))
  ]);
}

/** The hash of a node's page: `#/gold.fact_sales`, `#/source:cust_info`, `#/export:fact_sales`. */
export function pageHref(id: string): string {
  return `#/${encodeURIComponent(id)}`;
}

export function link(id: string, text = id): HTMLAnchorElement {
  return h('a', { href: pageHref(id), text });
}
