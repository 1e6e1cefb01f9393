/// <reference lib="dom" />
/** The views of the docs page: the graph and index (`#/`), and one page per model, bronze table, source file and export. */
import type { DocsColumn, DocsModelPage, Site } from './data.ts';
import { badge, type Child, fmt, h, link, table } from './dom.ts';

/** The index under the graph: every model by layer, with its description's first sentence. */
export function modelIndex(site: Site): HTMLElement {
  const rows = [...site.data.models]
    .sort((a, b) => layerOrder(a.layer) - layerOrder(b.layer) || a.name.localeCompare(b.name))
    .map((m) => [link(m.name), m.materialized + (m.quarantine ? ' · quarantine' : ''), `${m.columns.filter((c) => c.description).length} / ${m.columns.length}`, firstSentence(m.description)]);
  return h('section', { class: 'card' }, [h('h2', { text: 'Models' }), table(['model', 'materialized', 'columns described', 'description'], rows, { class: 'models-index' })]);
}

function layerOrder(layer: string): number {
  return ['bronze', 'silver', 'gold'].indexOf(layer);
}

function firstSentence(text: string | null): string {
  if (!text) return '';
  const m = /^(.+?[.!?])(\s|$)/.exec(text);
  return m ? m[1]! : text;
}

function relationList(site: Site, ids: string[]): HTMLElement {
  if (!ids.length) return h('p', { class: 'muted', text: 'none' });
  return h(
    'ul',
    {},
    ids.map((id) => h('li', {}, [site.nodes.has(id) || site.models.has(id) ? link(id) : h('code', { text: id }), id.startsWith('export:') ? ' (Parquet export)' : ''])),
  );
}

export function modelPage(site: Site, m: DocsModelPage, column: string | undefined): HTMLElement[] {
  const head = h('section', { class: 'card' }, [
    h('h1', { text: m.name }),
    h('p', {}, [badge(m.layer), badge(m.materialized), m.quarantine ? badge('quarantine') : null, h('code', { text: m.file })]),
    h('p', { class: 'description', text: m.description ?? '(no description)' }),
    m.unique_key.length ? h('p', {}, ['grain: ', h('code', { text: m.unique_key.join(', ') })]) : null,
    h('div', { class: 'rel' }, [
      h('div', { id: 'upstream' }, [h('h3', { text: `Upstream: reads (${m.depends_on.length})` }), relationList(site, m.depends_on)]),
      h('div', { id: 'downstream' }, [h('h3', { text: `Downstream: read by (${m.used_by.length})` }), relationList(site, m.used_by)]),
    ]),
    h('h3', { text: 'Latest run' }),
    m.latest
      ? h('p', { id: 'latest' }, [badge(m.latest.status), `${fmt(m.latest.rows)} rows${m.latest.seconds != null ? `, ${m.latest.seconds.toFixed(2)} s` : ''}`, site.data.latest_run ? ` · run ${site.data.latest_run.run_id}` : ''])
      : h('p', { id: 'latest', class: 'muted', text: site.data.latest_run ? 'not in the latest run' : 'no run recorded (or the database was not reachable)' }),
  ]);
  const selected = m.columns.find((c) => c.name === column) ?? m.columns[0];
  const columns = h('section', { class: 'card', id: 'columns' }, [
    h('h2', { text: `Columns (${m.columns.length})` }),
    table(
      ['column', 'role', 'type', 'description', 'tests', 'comes from'],
      m.columns.map((c) => [
        h('code', { text: c.name }),
        c.role ? h('span', { class: `role role-${c.role}`, text: c.role }) : '',
        c.type ?? (site.data.catalog_available ? '' : '—'),
        c.description ?? h('span', { class: 'undocumented', text: c.documented ? '' : 'undocumented' }),
        c.tests.length ? h('span', {}, c.tests.map((t) => h('div', {}, [h('code', { text: t })]))) : '',
        h('span', {}, [
          ...c.direct.map((d) => h('span', { class: 'chip', text: d })),
          c.declared ? h('em', { text: ' declared' }) : null,
          h('a', { class: 'trace', href: `#/${encodeURIComponent(m.name)}/${encodeURIComponent(c.name)}`, 'data-trace': c.name, text: 'trace ↓' }),
        ]),
      ]),
      { class: 'cols' },
    ),
  ]);
  for (const tr of columns.querySelectorAll('tbody tr')) if (tr.querySelector('code')?.textContent === selected?.name) tr.classList.add('selected');
  const parts = [head, columns];
  if (selected) parts.push(lineageSection(site, m, selected));
  parts.push(
    h('section', { class: 'card', id: 'tests' }, [
      h('h2', { text: `Tests (${m.tests.length})` }),
      m.tests.length
        ? table(
            ['test', 'kind', 'severity', 'checks', 'latest'],
            m.tests.map((t) => [h('code', { text: t.name }), t.kind, t.severity, t.summary, t.latest ? h('span', {}, [badge(t.latest.status), t.latest.failing_rows ? `${fmt(t.latest.failing_rows)} rows` : '']) : '—']),
          )
        : h('p', { class: 'muted', text: 'No tests.' }),
    ]),
  );
  if (m.rules.length)
    parts.push(
      h('section', { class: 'card', id: 'rules' }, [
        h('h2', { text: `Rules (${m.rules.length})` }),
        table(['rule', 'kind', 'description', 'latest rows'], m.rules.map((r) => [h('code', { text: r.name }), r.kind, r.description ?? '', fmt(r.latest_rows)])),
      ]),
    );
  parts.push(
    h('section', { class: 'card', id: 'sql' }, [
      h('h2', { text: 'SQL' }),
      m.unresolved.length ? h('p', { class: 'muted', text: `lineage: unresolved references ${m.unresolved.join(', ')}` }) : null,
      h('pre', { class: 'sql', text: m.sql }),
    ]),
  );
  return parts;
}

/** One column's lineage as a tree: the columns its expression reads, each with its own inputs, down to bronze. */
function lineageSection(site: Site, m: DocsModelPage, c: DocsColumn): HTMLElement {
  const picker = h(
    'select',
    { id: 'lineage-column', 'aria-label': 'column to trace' },
    m.columns.map((x) => h('option', { value: x.name, text: x.name })),
  );
  picker.value = c.name;
  picker.addEventListener('change', () => {
    location.hash = `#/${encodeURIComponent(m.name)}/${encodeURIComponent(picker.value)}`;
  });
  const root = h('ul', { class: 'tree root', id: 'lineage-tree' }, [h('li', {}, [h('strong', {}, [h('code', { text: `${m.name}.${c.name}` })]), c.declared ? h('em', { text: ' declared' }) : null, inputs(site, c, new Set([m.name]), 0)])]);
  return h('section', { class: 'card', id: 'lineage' }, [
    h('h2', { text: 'Column lineage' }),
    h('p', { class: 'toolbar' }, ['column ', picker, h('span', { class: 'muted', text: ` comes from ${c.sources.length} bronze source column${c.sources.length === 1 ? '' : 's'}` })]),
    root,
    h('p', {}, ['bronze sources: ', ...(c.sources.length ? c.sources.map((s) => h('span', { class: 'chip', text: s })) : [h('span', { class: 'muted', text: 'none (a constant or a computed value)' })])]),
  ]);
}

function inputs(site: Site, c: DocsColumn, path: Set<string>, depth: number): HTMLElement | null {
  if (!c.direct.length) return depth === 0 ? h('p', { class: 'muted', text: 'reads no column (a constant or a computed value)' }) : null;
  return h(
    'ul',
    { class: 'tree' },
    c.direct.map((ref) => {
      const dot = ref.lastIndexOf('.');
      const relation = ref.slice(0, dot);
      const name = ref.slice(dot + 1);
      const up = site.models.get(relation);
      const upColumn = up?.columns.find((x) => x.name === name);
      const label: Child[] = [site.models.has(relation) || site.nodes.has(relation) ? link(relation) : h('code', { text: relation }), '.', h('code', { class: relation.startsWith('bronze.') ? 'leaf' : '', text: name })];
      const deeper = up && upColumn && !path.has(relation) && depth < 12 ? inputs(site, upColumn, new Set([...path, relation]), depth + 1) : null;
      return h('li', { 'data-ref': ref }, [...label, deeper]);
    }),
  );
}

export function sourcePage(site: Site, id: string): HTMLElement[] {
  const s = site.sources.get(id)!;
  const model = site.data.models.filter((m) => m.depends_on.includes(s.relation)).map((m) => m.name);
  return [
    h('section', { class: 'card' }, [
      h('h1', { text: id.startsWith('source:') ? s.file : s.relation }),
      h('p', {}, [badge(s.system), h('code', { text: `seeds/bronze/${s.file}` }), ' → ', link(s.relation)]),
      h('p', { text: s.description }),
      h('h3', { text: `Downstream: read by (${model.length})` }),
      relationList(site, id.startsWith('source:') ? [s.relation] : model),
    ]),
    h('section', { class: 'card', id: 'columns' }, [
      h('h2', { text: `Columns (${s.columns.length})` }),
      table(['column', 'CSV header', 'type'], s.columns.map((c) => [h('code', { text: c.name }), c.header ?? '(added by the loader)', c.type ?? 'text'])),
    ]),
  ];
}

export function exportPage(site: Site, id: string): HTMLElement[] {
  const table_ = id.slice('export:'.length);
  const model = site.models.get(`gold.${table_}`);
  return [
    h('section', { class: 'card' }, [
      h('h1', { text: `exports/${table_}.parquet` }),
      h('p', {}, ['The Parquet export of ', link(`gold.${table_}`), model?.latest ? `, ${fmt(model.latest.rows)} rows in the latest run.` : '.']),
      h('h3', { text: 'Upstream: reads (1)' }),
      relationList(site, [`gold.${table_}`]),
    ]),
  ];
}
