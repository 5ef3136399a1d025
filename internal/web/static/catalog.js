// The catalog (#/catalog): the plugins the server's catalogs offer, to
// search and filter by category and tier, page by page; the catalogs
// themselves, each with its error, for an admin to add, remove and refresh;
// and which installed plugins the catalogs have a newer version of.

import {h, $, replace} from './dom.js';
import * as fmt from './format.js';
import {confirm} from './dialog.js';
import {errorBox, notify, notifyError} from './notices.js';

export const CATALOG = '/api/plugins/catalog';
// The API actions (from whoami) that the catalog's views and buttons need.
// A server without catalogs allows none of them.
export const CAN = {
  list: 'catalog',
  install: 'catalog-install',
  update: 'catalog-update',
  refresh: 'catalog-refresh',
  configure: 'configure-system',
};
const PER_PAGE = 12;
// Typing in the search box asks the server once it pauses.
const TYPING_MS = 250;
// Installs, updates and unloads change what is installed; events within
// this window are answered by one reload.
const RELOAD_MS = 300;
// The pages read to learn every installed plugin's update, at most.
const MAX_UPDATE_PAGES = 20;
// Icons the page shows: images carried in the catalog itself. The page's
// policy loads no image from another site.
const ICON = /^data:image\/(png|jpeg|gif|webp|svg\+xml)[;,]/;

export const entryPath = (id, rest = '') => `${CATALOG}/${encodeURIComponent(id)}${rest}`;

// icon is an entry's icon, or its initial when it has none the page can show.
export function icon(entry, size = 'small') {
  if (ICON.test(entry.icon ?? '')) return h('img', {class: `entry-icon ${size}`, src: entry.icon, alt: ''});
  return h('span', {class: `entry-icon ${size} initial`, 'aria-hidden': 'true'}, (entry.name || entry.id || '?').slice(0, 1).toUpperCase());
}

// badges says what the server has of an entry: installed, at which version,
// and whether the catalog has a newer one.
export function badges(entry) {
  return [
    (entry.tiers ?? []).map((t) => h('span', {class: 'badge', dataset: {tier: t}}, t)),
    entry.installed ? h('span', {class: 'badge ok', dataset: {badge: 'installed'}}, `installed ${entry.installed_version ?? ''}`.trim()) : null,
    entry.update_available ? h('span', {class: 'badge warn', dataset: {badge: 'update'}}, `update available: ${entry.latest}`) : null,
  ];
}

export class CatalogView {
  constructor(app) {
    this.app = app;
    this.open = false;
    this.query = {q: '', category: '', tier: '', page: 1};
    this.seq = 0; // the latest list request; older answers are dropped
    this.catalogs = [];
    $('#catalog-filters').addEventListener('submit', (e) => {
      e.preventDefault();
      this.search();
    });
    $('#catalog-q').addEventListener('input', () => {
      clearTimeout(this.typing);
      this.typing = setTimeout(() => this.search(), TYPING_MS);
    });
    $('#catalog-tier').addEventListener('input', () => this.search());
    $('#catalog-refresh').addEventListener('click', () => this.refreshCatalogs());
    $('#catalog-add').addEventListener('submit', (e) => {
      e.preventDefault();
      this.addCatalog();
    });
  }

  show() {
    this.open = true;
    this.load();
  }

  hide() {
    this.open = false;
    clearTimeout(this.typing);
  }

  // search asks again from the first page, with the filters as they are.
  search() {
    clearTimeout(this.typing);
    this.query.q = $('#catalog-q').value.trim();
    this.query.tier = $('#catalog-tier').value;
    this.query.page = 1;
    this.load();
  }

  onEvent(e) {
    if (!['loaded', 'unloaded', 'reloaded'].includes(e.type) && !(e.type === 'config_changed' && !e.plugin_id)) return;
    clearTimeout(this.reload);
    this.reload = setTimeout(() => {
      this.loadUpdates();
      if (this.open) this.load();
    }, RELOAD_MS);
  }

  sync() {
    this.loadUpdates();
    if (this.open) this.load();
  }

  async load() {
    const seq = ++this.seq;
    const {q, category, tier, page} = this.query;
    const params = new URLSearchParams({page: String(page), per_page: String(PER_PAGE)});
    if (q) params.set('q', q);
    if (category) params.set('category', category);
    if (tier) params.set('tier', tier);
    $('#catalog-entries').setAttribute('aria-busy', 'true');
    try {
      const res = await this.app.api.get(`${CATALOG}?${params}`);
      if (seq !== this.seq || !this.open) return;
      this.render(res);
    } catch (err) {
      if (seq !== this.seq || !this.open) return;
      replace($('#catalog-count'));
      replace($('#catalog-entries'), errorBox(err));
      replace($('#catalog-pages'));
    } finally {
      if (seq === this.seq) $('#catalog-entries').removeAttribute('aria-busy');
    }
  }

  render(res) {
    const entries = res.entries ?? [];
    const total = res.total ?? entries.length;
    const page = res.page ?? this.query.page;
    const pages = Math.max(1, Math.ceil(total / (res.per_page || PER_PAGE)));
    this.renderChips(res.categories ?? []);
    this.renderCatalogs(res.catalogs ?? []);
    const filtered = this.query.q || this.query.category || this.query.tier;
    $('#catalog-count').textContent = total === 0 ? '' :
      `${total} plugin${total === 1 ? '' : 's'}${filtered ? ' match' : ''}${pages > 1 ? ` · page ${page} of ${pages}` : ''}`;
    replace($('#catalog-entries'), entries.length ? entries.map((e) => this.card(e)) : h('div', {class: 'empty', dataset: {empty: ''}},
      filtered ? h('p', null, 'No plugin in the catalogs matches. Try other words or another category.')
        : [h('h2', null, 'The catalogs list no plugins'),
          h('p', null, (res.catalogs ?? []).length ? 'A catalog refused or not yet read says why below.'
            : 'No catalog is configured. An admin can add one below.')]));
    replace($('#catalog-pages'), pages > 1 ? [
      h('button', {type: 'button', class: 'small', disabled: page <= 1, dataset: {page: 'previous'}, onclick: () => this.turn(page - 1)}, 'Previous'),
      h('span', {class: 'muted'}, `Page ${page} of ${pages}`),
      h('button', {type: 'button', class: 'small', disabled: page >= pages, dataset: {page: 'next'}, onclick: () => this.turn(page + 1)}, 'Next'),
    ] : null);
  }

  turn(page) {
    this.query.page = page;
    this.load();
    $('#catalog-title').scrollIntoView?.({block: 'start'});
  }

  // renderChips offers every category as a toggle; choosing one again
  // shows every category.
  renderChips(categories) {
    const current = this.query.category;
    const chip = (value, label) => h('button', {
      type: 'button', class: 'chip', 'aria-pressed': String(current === value), dataset: {category: value},
      onclick: () => {
        this.query.category = current === value ? '' : value;
        this.query.page = 1;
        this.load();
      },
    }, label);
    replace($('#catalog-chips'), categories.length ? [chip('', 'All categories'), categories.map((c) => chip(c, c))] : null);
  }

  card(e) {
    return h('article', {class: 'card entry-card', dataset: {entryId: e.id}, 'aria-labelledby': `catalog-entry-${e.id}`},
      h('div', {class: 'entry-card-head'},
        icon(e),
        h('h2', {id: `catalog-entry-${e.id}`}, h('a', {href: `#/catalog/${encodeURIComponent(e.id)}`, dataset: {key: `catalog:${e.id}:open`}}, e.name || e.id))),
      e.summary ? h('p', {class: 'entry-summary'}, e.summary) : null,
      h('p', {class: 'muted entry-by'}, [e.publisher ? `by ${e.publisher}` : null, e.latest ? `latest ${e.latest}` : null, `from ${e.catalog}`].filter(Boolean).join(' · ')),
      e.categories?.length ? h('ul', {class: 'tags', 'aria-label': 'Categories'}, e.categories.map((c) => h('li', null, c))) : null,
      h('p', {class: 'entry-badges'}, badges(e)));
  }

  // renderCatalogs lists the catalogs the server reads, each with when it
  // was last read and, for one refused or unreadable, why.
  renderCatalogs(catalogs) {
    this.catalogs = catalogs;
    const admin = this.app.can(CAN.configure);
    replace($('#catalog-list'), catalogs.length ? h('ul', {class: 'catalogs'}, catalogs.map((c) => h('li', {dataset: {catalog: c.name}},
      h('div', {class: 'catalog-line'},
        h('strong', null, c.name), ' ',
        c.error ? h('span', {class: 'badge bad'}, 'refused') : h('span', {class: 'badge ok'}, `${c.entries ?? 0} plugin${c.entries === 1 ? '' : 's'}`),
        admin ? h('button', {type: 'button', class: 'small danger', 'aria-label': `Remove the catalog ${c.name}`, dataset: {removeCatalog: c.name},
          onclick: () => this.removeCatalog(c.name)}, 'Remove') : null),
      h('p', {class: 'muted catalog-where'}, h('code', null, c.location), c.ref ? ` @ ${c.ref}` : '',
        ` · ${c.refreshed_at ? `read ${fmt.time(c.refreshed_at)}` : 'not read yet'}`),
      c.error ? h('div', {class: 'error-box', dataset: {catalogError: c.name}}, h('p', {class: 'error-message'}, c.error)) : null)))
      : h('p', {class: 'muted'}, 'No catalogs are configured.'));
  }

  async refreshCatalogs() {
    const button = $('#catalog-refresh');
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      const catalogs = (await this.app.api.post(`${CATALOG}/refresh`))?.catalogs ?? [];
      const refused = catalogs.filter((c) => c.error);
      notify(refused.length ? 'bad' : 'ok', 'Catalogs refreshed',
        refused.length ? `Refused: ${refused.map((c) => `${c.name} (${c.error})`).join('; ')}` : `${catalogs.length} read.`);
      if (this.open) this.renderCatalogs(catalogs);
      this.loadUpdates();
      if (this.open) this.load();
    } catch (err) {
      notifyError('Could not refresh the catalogs', err);
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  // The catalogs are part of the system configuration: adding or removing
  // one writes the whole list back, as read just before.
  async configured() {
    const sys = await this.app.api.get('/api/plugins/system/configuration');
    return sys.catalogs ?? [];
  }

  // saveCatalogs writes the list, then reads the catalogs at once where
  // the role may, so that the list shows how each went.
  async saveCatalogs(catalogs) {
    await this.app.api.put('/api/plugins/system/configuration', {catalogs});
    if (this.app.can(CAN.refresh)) await this.app.api.post(`${CATALOG}/refresh`);
  }

  async addCatalog() {
    const form = $('#catalog-add');
    const box = $('#catalog-add-error');
    replace(box);
    const value = (name) => form.elements.namedItem(name).value.trim();
    const next = {
      name: value('name'), location: value('location'), ref: value('ref'), path: value('path'),
      keys: value('keys').split('\n').map((k) => k.trim()).filter(Boolean),
    };
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const catalogs = await this.configured();
      if (catalogs.some((c) => c.name === next.name)) throw new Error(`a catalog named ${next.name} is already configured`);
      await this.saveCatalogs([...catalogs, next]);
      form.reset();
      notify('ok', `Catalog ${next.name} added`, 'The server reads it now; a refused catalog says why in the list.');
      this.load();
    } catch (err) {
      replace(box, errorBox(err));
    } finally {
      button.disabled = false;
    }
  }

  async removeCatalog(name) {
    const ok = await confirm({title: `Remove the catalog ${name}?`, action: 'Remove',
      text: 'Its plugins leave the catalog view. Plugins installed from it stay installed, but are no longer offered updates from it.'});
    if (!ok) return;
    try {
      const catalogs = await this.configured();
      await this.saveCatalogs(catalogs.filter((c) => c.name !== name));
      notify('ok', `Catalog ${name} removed`);
      this.loadUpdates();
      this.load();
    } catch (err) {
      notifyError(`Could not remove the catalog ${name}`, err);
    }
  }

  // loadUpdates learns which installed plugins the catalogs have a newer
  // version of, for the plugins list. A server without catalogs has none.
  async loadUpdates() {
    const updates = new Map();
    if (!this.app.can(CAN.list)) return;
    try {
      for (let page = 1; page <= MAX_UPDATE_PAGES; page++) {
        const res = await this.app.api.get(`${CATALOG}?page=${page}&per_page=100`);
        for (const e of res.entries ?? []) if (e.installed && e.update_available) updates.set(e.id, e);
        if (page * (res.per_page || 100) >= (res.total ?? 0)) break;
      }
    } catch {
      // No catalog to read (or none allowed): nothing to offer.
    }
    if (!this.app.api) return;
    this.app.updates = updates;
    this.app.list.render();
  }
}

// updateButton offers, in the plugins list, the catalog's newer version of
// an installed plugin: confirmed, then followed on the entry's page.
export function updateButton(app, p, entry, place) {
  if (!entry || !app.can(CAN.update)) return null;
  return h('button', {
    type: 'button', class: 'small primary', dataset: {action: 'catalog-update', key: `${place}:${p.id}:catalog-update`},
    'aria-label': `Update ${p.id} to ${entry.latest}`,
    onclick: async () => {
      const ok = await confirm({title: `Update ${p.id} to ${entry.latest}?`, action: 'Update', danger: false,
        text: `Version ${entry.latest} from the catalog ${entry.catalog} is built and started beside the running ${p.version}, and switched to once it passes a health check.`});
      if (!ok) return;
      app.entry.queue(p.id, entry.latest);
      location.hash = `#/catalog/${encodeURIComponent(p.id)}`;
    },
  }, 'Update');
}
