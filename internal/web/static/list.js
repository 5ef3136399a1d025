// The plugins list: every plugin with its state, health and traffic, to
// filter, sort and act on.

import {h, $, patch, replace, syncChildren} from './dom.js';
import * as fmt from './format.js';
import {actionButtons} from './actions.js';
import {updateButton} from './catalog.js';

const stateKinds = {active: 'ok', degraded: 'warn', disabled: '', loading: 'warn', restoring: 'warn', unloading: 'warn', failed: 'bad', crash_loop: 'bad'};
const healthKinds = {healthy: 'ok', degraded: 'warn', unhealthy: 'bad', unknown: ''};

// stateBadge and healthBadge show a word, coloured as a second cue.
export const stateBadge = (state) => h('span', {class: `badge ${stateKinds[state] ?? ''}`, dataset: {state}}, state);
export const healthBadge = (status) => h('span', {class: `badge ${healthKinds[status] ?? ''}`, dataset: {health: status}}, status);

// sortValue is what each sortable column sorts by.
const sortValue = {
  id: (p) => p.id,
  name: (p) => p.name || '',
  version: (p) => p.version || '',
  tier: (p) => p.tier,
  state: (p) => p.state,
  health: (p) => p.health?.status ?? '',
  requests: (p) => p.stats?.requests ?? 0,
  error_rate: (p) => p.stats?.error_rate ?? 0,
  source: (p) => fmt.sourceText(p.source),
};

export class PluginList {
  constructor(app) {
    this.app = app;
    this.sort = {key: 'id', dir: 1};
    this.body = $('#plugins-body');
    this.rows = new Map(); // plugin id → its table row
    for (const id of ['#filter-text', '#filter-state', '#filter-health', '#filter-tier']) {
      $(id).addEventListener('input', () => this.render());
    }
    $('#filters').addEventListener('submit', (e) => e.preventDefault());
    for (const th of document.querySelectorAll('#plugins-table th[data-sort]')) {
      th.querySelector('button').addEventListener('click', () => {
        const key = th.dataset.sort;
        this.sort = {key, dir: this.sort.key === key ? -this.sort.dir : 1};
        this.render();
      });
    }
  }

  // visible returns the plugins that pass the filters, sorted.
  visible() {
    const text = $('#filter-text').value.trim().toLowerCase();
    const state = $('#filter-state').value;
    const health = $('#filter-health').value;
    const tier = $('#filter-tier').value;
    const list = [...this.app.plugins.values()].filter((p) =>
      (!text || [p.id, p.name, fmt.sourceText(p.source)].some((v) => (v ?? '').toLowerCase().includes(text))) &&
      (!state || p.state === state) &&
      (!health || p.health?.status === health) &&
      (!tier || p.tier === tier));
    const value = sortValue[this.sort.key];
    const dir = this.sort.dir;
    return list.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      const c = typeof va === 'number' ? va - vb : String(va).localeCompare(String(vb));
      return c * dir || a.id.localeCompare(b.id);
    });
  }

  render() {
    if (!this.app.loaded) {
      for (const id of ['#plugins-table', '#filters', '#plugins-empty']) $(id).hidden = true;
      $('#plugins-count').textContent = 'Loading plugins…';
      return;
    }
    const all = this.app.plugins.size;
    const rows = this.visible();
    for (const th of document.querySelectorAll('#plugins-table th[data-sort]')) {
      if (th.dataset.sort === this.sort.key) th.setAttribute('aria-sort', this.sort.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
    $('#plugins-table').hidden = all === 0;
    $('#filters').hidden = all === 0;
    const empty = $('#plugins-empty');
    empty.hidden = all !== 0;
    if (all === 0) {
      replace(empty,
        h('h2', null, 'No plugins are installed yet'),
        this.app.can('upload')
          ? h('p', null, 'Install one: upload a ZIP archive, or name a GitHub repository or a folder on the server. ',
            h('a', {href: '#/install'}, 'Install a plugin'), '.')
          : h('p', null, 'An admin can install plugins. They appear here as soon as they load, without reloading this page.'));
    }
    $('#plugins-count').textContent = all === 0 ? '' :
      rows.length === all ? `${all} plugin${all === 1 ? '' : 's'}` : `${rows.length} of ${all} plugins match the filters`;
    // Rows are kept and changed in place: a row whose plugin did not
    // change keeps its elements, so an event arriving while someone clicks
    // or tabs through the table disturbs nothing.
    const shown = new Set();
    syncChildren(this.body, rows.map((p) => {
      shown.add(p.id);
      return this.row(p);
    }));
    for (const id of this.rows.keys()) if (!shown.has(id)) this.rows.delete(id);
  }

  // row returns p's table row, updated.
  row(p) {
    let tr = this.rows.get(p.id);
    if (!tr) {
      tr = h('tr', {dataset: {pluginId: p.id}}, COLUMNS.map(([col, label, cls]) => h('td', {class: cls, dataset: {col, label}})));
      this.rows.set(p.id, tr);
    }
    for (const td of tr.cells) {
      const [sig, render] = this.cell(td.dataset.col, p);
      patch(td, sig, render);
    }
    return tr;
  }

  // cell is what a column shows for p: a signature of it, and how to draw it.
  cell(col, p) {
    const text = (v) => [String(v), () => v];
    switch (col) {
      case 'id': return [p.id, () => h('a', {href: `#/plugins/${encodeURIComponent(p.id)}`, dataset: {key: `list:${p.id}:open`}}, p.id)];
      case 'name': return text(p.name || '—');
      case 'version': {
        // A catalog's newer version is said beside the running one.
        const update = this.app.updates.get(p.id);
        return [`${p.version}|${update?.latest ?? ''}`, () => [p.version || '—', update
          ? [' ', h('span', {class: 'badge warn', dataset: {badge: 'update'}}, `update available: ${update.latest}`)] : null]];
      }
      case 'tier': return text(p.tier);
      case 'state': return [p.state, () => stateBadge(p.state)];
      case 'health': return [p.health?.status ?? 'unknown', () => healthBadge(p.health?.status ?? 'unknown')];
      case 'requests': return text(fmt.number(p.stats?.requests ?? 0));
      case 'error_rate': return text(fmt.percent(p.stats?.error_rate ?? 0));
      case 'source': return text(fmt.sourceText(p.source));
      default: {
        const update = this.app.updates.get(p.id);
        return [`${p.enabled}:${p.source?.kind}:${p.dependants?.join()}:${update?.latest ?? ''}`, () => h('div', {class: 'row-actions'},
          updateButton(this.app, p, update, 'list'), actionButtons(this.app, p, 'list'))];
      }
    }
  }
}

// COLUMNS are the table's columns: key, label (for the narrow layout), class.
const COLUMNS = [
  ['id', 'ID'], ['name', 'Name'], ['version', 'Version'], ['tier', 'Tier'], ['state', 'State'], ['health', 'Health'],
  ['requests', 'Requests', 'num'], ['error_rate', 'Error rate', 'num'], ['source', 'Source', 'source'], ['actions', 'Actions'],
];
