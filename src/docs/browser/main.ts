/// <reference lib="dom" />
/**
 * The docs page script: reads the site's data and shows the view the hash names:
 * `#/` the graph and the model index, `#/<node id>` a page (`#/gold.fact_sales`), and
 * `#/<model>/<column>` a model page with that column's lineage.
 */
import { readSite } from './data.ts';
import { h } from './dom.ts';
import { graphView } from './graph.ts';
import { exportPage, modelIndex, modelPage, sourcePage } from './pages.ts';
import { wireSearch } from './search.ts';

const site = readSite();
const view = document.getElementById('view')!;
const { data } = site;
const graph = graphView(site);
let pending: string[] = [];

document.getElementById('meta')!.textContent = [
  `${data.models.length} models, ${data.sources.length} sources`,
  `generated ${data.generated_at}`,
  data.latest_run ? `latest run ${data.latest_run.run_id} (${data.latest_run.status}, as of ${data.latest_run.as_of ?? '—'})` : 'no run recorded',
  ...(data.catalog_available ? [] : ['column types unavailable (database not reachable)']),
].join(' · ');

function route(): void {
  const [id, column] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  view.textContent = '';
  document.body.dataset.view = id ? 'page' : 'graph';
  if (!id) {
    view.append(graph.element, modelIndex(site));
    graph.fitWidth();
    graph.panTo(pending);
    document.title = 'medallion-etl docs';
    return;
  }
  const model = site.models.get(id);
  const parts = model ? modelPage(site, model, column) : site.sources.has(id) ? sourcePage(site, id) : id.startsWith('export:') && site.nodes.has(id) ? exportPage(site, id) : null;
  if (!parts) {
    view.append(h('section', { class: 'card' }, [h('h1', { text: 'Not found' }), h('p', {}, [`No model or table named ${id}. `, h('a', { href: '#/', text: 'Back to the graph' })])]));
    return;
  }
  view.append(h('p', {}, [h('a', { href: '#/', text: '← graph' })]), ...parts);
  document.title = `${id} · medallion-etl docs`;
  if (column) document.getElementById('lineage')?.scrollIntoView({ block: 'start' });
  else window.scrollTo(0, 0);
}

wireSearch(site, (nodes) => {
  pending = nodes;
  if (document.body.dataset.view === 'graph') graph.panTo(nodes);
});
window.addEventListener('hashchange', route);
route();
// The fit needs the final width of the page; layout settles once fonts are in.
void document.fonts?.ready.then(() => graph.fitWidth());
