/// <reference lib="dom" />
/**
 * The model graph: drawn from the layout computed when the site was written, at the page's width
 * (never smaller than labels of MIN_LABEL_PX; wider graphs scroll sideways), with the upstream and
 * downstream of the hovered node highlighted, and `panTo` bringing one node to the middle of the view.
 */
import { reachable, type Site } from './data.ts';
import { fmt, h, pageHref, svg } from './dom.ts';

/** The smallest label size, in CSS pixels, the fit may draw. */
export const MIN_LABEL_PX = 11;

export interface GraphView {
  element: HTMLElement;
  /** Fits the graph to the width of its container (call once it is in the document). */
  fitWidth(): void;
  /** Marks the nodes whose ids are given (none: clears), scrolls the first to the middle of the view. */
  panTo(ids: string[]): void;
}

export function graphView(site: Site): GraphView {
  const { graph } = site.data;
  const wrap = h('div', { id: 'graph-wrap' });
  const root = svg('svg', { id: 'graph', role: 'img', 'aria-label': 'model graph', viewBox: `0 0 ${graph.width} ${graph.height}` }, wrap);
  root.style.fontSize = `${graph.font_size}px`;
  const defs = svg('defs', {}, root);
  const marker = svg('marker', { id: 'arr', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }, defs);
  svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a94a6' }, marker);
  const edgeLayer = svg('g', {}, root);
  const nodeLayer = svg('g', {}, root);
  const edges = graph.edges.map((e) => {
    const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' ');
    return { e, el: svg('path', { class: 'gedge', d, 'marker-end': 'url(#arr)', 'data-from': e.from, 'data-to': e.to }, edgeLayer) };
  });
  const nodes = new Map<string, SVGGElement>();
  for (const n of graph.nodes) {
    const a = svg('a', { href: pageHref(n.id) }, nodeLayer);
    const g = svg('g', { class: `gnode ${n.kind}${n.quarantine ? ' quarantine' : ''}`, transform: `translate(${n.x},${n.y})`, 'data-id': n.id }, a);
    svg('title', {}, g).textContent = n.id;
    svg('rect', { width: n.width, height: n.height, rx: 6 }, g);
    svg('text', { class: 'label', x: 10, y: 19 }, g).textContent = n.label;
    const caption = svg('text', { class: 'caption', x: 10, y: 37 }, g);
    caption.style.fontSize = '0.82em';
    caption.textContent = n.caption;
    g.addEventListener('mouseenter', () => highlight(n.id));
    g.addEventListener('mouseleave', () => highlight(null));
    nodes.set(n.id, g);
  }

  function highlight(id: string | null): void {
    const up = id ? reachable(site.data, id, 'up') : new Set<string>();
    const down = id ? reachable(site.data, id, 'down') : new Set<string>();
    for (const [k, g] of nodes) {
      g.classList.toggle('up', up.has(k));
      g.classList.toggle('down', down.has(k));
      g.classList.toggle('dim', !!id && k !== id && !up.has(k) && !down.has(k));
    }
    for (const { e, el } of edges) {
      // An edge is lit when it lies on a path into the node (both ends upstream) or out of it.
      const on = !!id && ((up.has(e.from) && (up.has(e.to) || e.to === id)) || (down.has(e.to) && (down.has(e.from) || e.from === id)));
      el.classList.toggle('hl', on);
      el.classList.toggle('dim', !!id && !on);
    }
  }

  let zoom = 1;
  let scale = 1;
  const fitWidth = () => {
    const available = wrap.clientWidth || window.innerWidth - 48;
    const min = MIN_LABEL_PX / graph.font_size;
    scale = Math.max(min, Math.min(1.25, available / graph.width) * zoom);
    root.setAttribute('width', String(Math.floor(graph.width * scale)));
    root.setAttribute('height', String(Math.ceil(graph.height * scale)));
  };
  const zoomBy = (f: number) => {
    zoom = Math.max(0.5, Math.min(3, zoom * f));
    fitWidth();
  };
  const toolbar = h('div', { class: 'toolbar' }, [
    h('button', { type: 'button', id: 'zoom-in', 'aria-label': 'zoom in', text: '+' }),
    h('button', { type: 'button', id: 'zoom-out', 'aria-label': 'zoom out', text: '−' }),
    h('button', { type: 'button', id: 'zoom-fit', text: 'fit to width' }),
    h('span', { class: 'legend' }, [h('i', { class: 'source' }), 'source file', h('i', { class: 'bronze' }), 'bronze', h('i', { class: 'silver' }), 'silver', h('i', { class: 'gold' }), 'gold', h('i', { class: 'export' }), 'export']),
    h('span', { class: 'muted', text: `${fmt(graph.nodes.length)} nodes · hover a node for its upstream (blue) and downstream (green), click it for its page` }),
  ]);
  toolbar.querySelector('#zoom-in')!.addEventListener('click', () => zoomBy(1.25));
  toolbar.querySelector('#zoom-out')!.addEventListener('click', () => zoomBy(1 / 1.25));
  toolbar.querySelector('#zoom-fit')!.addEventListener('click', () => {
    zoom = 1;
    fitWidth();
  });
  window.addEventListener('resize', fitWidth);

  function panTo(ids: string[]): void {
    const wanted = new Set(ids);
    for (const [k, g] of nodes) {
      g.classList.toggle('match', wanted.has(k));
      g.classList.toggle('dim', wanted.size > 0 && !wanted.has(k));
    }
    for (const { el } of edges) el.classList.toggle('dim', wanted.size > 0);
    const first = graph.nodes.find((n) => n.id === ids[0]);
    if (!first) return;
    const cx = (first.x + first.width / 2) * scale;
    const cy = (first.y + first.height / 2) * scale;
    wrap.scrollLeft = Math.max(0, cx - wrap.clientWidth / 2);
    const top = root.getBoundingClientRect().top + window.scrollY;
    window.scrollTo({ top: Math.max(0, top + cy - window.innerHeight / 2), behavior: 'instant' });
  }

  return { element: h('section', { class: 'card graph-card' }, [toolbar, wrap]), fitWidth, panTo };
}
