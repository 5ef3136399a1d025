// One catalog entry (#/catalog/<id>): its description, rendered from
// Markdown without any of its HTML; what each version asks for
// (permissions, Kubernetes access), its tier and digest; and, for an admin,
// install or update at a chosen version, followed live.

import {h, $, replace} from './dom.js';
import * as fmt from './format.js';
import {render as markdown, safeHref} from './markdown.js';
import {OperationProgress, progressCard} from './progress.js';
import {CAN, entryPath, icon, badges} from './catalog.js';
import {errorBox} from './notices.js';

// Events about the entry's plugin within this window are answered by one
// reload of the entry.
const RELOAD_MS = 300;

export class CatalogEntry {
  constructor(app) {
    this.app = app;
    this.el = $('#view-entry');
    this.id = null;
    this.entry = null;
    this.queued = null; // an update asked for from the plugins list: {id, version}
    this.running = false; // an install or update is being followed
    this.els = progressCard('entry-progress-title');
    this.progress = new OperationProgress(app, this.els, {onBusy: (on) => this.busy(on)});
  }

  // queue asks for an update of id to version once its entry is open.
  queue(id, version) {
    this.queued = {id, version};
  }

  open(id) {
    this.close();
    this.id = id;
    this.entry = null;
    this.chosen = null;
    // The last install's outcome is about another entry; one still
    // running goes on showing, with what it installs.
    if (!this.running) this.els.card.hidden = true;
    replace(this.el, h('p', null, h('a', {href: '#/catalog'}, '← Catalog')), h('h1', {id: 'entry-title'}, id), h('p', null, 'Loading…'));
    this.load();
  }

  close() {
    clearTimeout(this.reload);
    this.id = null;
  }

  onEvent(e) {
    this.progress.onEvent(e);
    if (!this.id || e.plugin_id !== this.id || !['loaded', 'unloaded', 'reloaded'].includes(e.type)) return;
    clearTimeout(this.reload);
    this.reload = setTimeout(() => this.load(), RELOAD_MS);
  }

  sync() {
    this.progress.sync();
    if (this.id) this.load();
  }

  async load() {
    const id = this.id;
    let entry;
    try {
      entry = await this.app.api.get(entryPath(id));
    } catch (err) {
      if (id !== this.id) return;
      replace(this.el, h('p', null, h('a', {href: '#/catalog'}, '← Catalog')), h('h1', {id: 'entry-title'}, id),
        err.status === 404 ? h('p', {class: 'empty', dataset: {gone: ''}}, `No catalog lists ${id}.`) : errorBox(err));
      return;
    }
    if (id !== this.id) return;
    const first = !this.entry;
    this.entry = entry;
    this.render(first);
    const q = this.queued;
    if (q && q.id === id) {
      this.queued = null;
      this.run('update', q.version);
    }
  }

  // render draws the entry; the progress card is kept across redraws, so
  // an install followed there goes on showing.
  render(first) {
    const e = this.entry;
    const versions = e.versions ?? [];
    if (!versions.some((v) => v.version === this.chosen)) this.chosen = versions[0]?.version ?? '';
    const homepage = safeHref(e.homepage ?? '');
    const section = (key, title, ...body) => h('section', {class: 'card', dataset: {section: key}, 'aria-labelledby': `e-${key}`},
      h('h2', {id: `e-${key}`}, title), body);
    replace(this.el,
      h('p', null, h('a', {href: '#/catalog'}, '← Catalog')),
      h('div', {class: 'detail-head entry-head'},
        icon(e, 'large'),
        h('div', null,
          h('h1', {id: 'entry-title'}, e.name || e.id, ' ', h('span', {class: 'muted'}, e.latest ?? '')),
          e.summary ? h('p', {class: 'entry-summary'}, e.summary) : null,
          h('p', {class: 'entry-badges'}, badges(e)))),
      h('div', {class: 'detail-grid'},
        h('div', null,
          this.actions(e),
          this.els.card,
          section('about', 'About',
            h('dl', {class: 'facts'},
              h('dt', null, 'ID'), h('dd', null, h('code', null, e.id)),
              e.publisher ? [h('dt', null, 'Publisher'), h('dd', null, e.publisher)] : null,
              homepage ? [h('dt', null, 'Homepage'), h('dd', null, h('a', {href: homepage, rel: 'noopener noreferrer', target: '_blank'}, homepage))] : null,
              h('dt', null, 'Catalog'), h('dd', null, e.catalog),
              e.categories?.length ? [h('dt', null, 'Categories'), h('dd', null, e.categories.join(', '))] : null))),
        section('asks', `What ${this.chosen || 'it'} asks for`, this.asks(versions.find((v) => v.version === this.chosen)))),
      section('readme', 'Description', h('div', {class: 'readme', dataset: {readme: ''}},
        e.description ? markdown(e.description) : h('p', {class: 'muted'}, 'The publisher gave no description.'))),
      section('versions', 'Versions', this.versions(versions)));
    if (first) document.title = `${e.name || e.id} · KubeStellar plugins`;
  }

  // actions: the version to install, and Install or Update; a viewer sees
  // what is installed only.
  actions(e) {
    const versions = e.versions ?? [];
    const admin = this.app.can(e.installed ? CAN.update : CAN.install);
    const installed = e.installed
      ? h('p', {dataset: {installedVersion: e.installed_version ?? ''}}, `Version ${e.installed_version} is installed. `,
        h('a', {href: `#/plugins/${encodeURIComponent(e.id)}`}, `Open ${e.id}`), '.')
      : h('p', {class: 'muted'}, 'Not installed.');
    if (!admin || !versions.length) {
      return h('section', {class: 'card', 'aria-label': 'Install'}, installed,
        !versions.length ? h('p', {class: 'muted'}, 'No version can be installed.') :
          h('p', {class: 'muted'}, `Your role (${this.app.me.role}) can browse the catalog; an admin installs and updates.`));
    }
    const select = h('select', {id: 'entry-version', dataset: {key: 'entry:version'},
      oninput: () => {
        this.chosen = select.value;
        this.render(false);
        $('#entry-version')?.focus();
      }},
    versions.map((v) => h('option', {value: v.version, selected: v.version === this.chosen},
      `${v.version}${v.version === e.latest ? ' (latest)' : ''} · ${v.tier}${e.installed && v.version === e.installed_version ? ' · installed' : ''}`)));
    const kind = e.installed ? 'update' : 'install';
    const same = e.installed && this.chosen === e.installed_version;
    const button = h('button', {type: 'submit', class: 'primary', disabled: same || this.running, dataset: {entryAction: kind}},
      e.installed ? `Update to ${this.chosen}` : `Install ${this.chosen}`);
    return h('form', {class: 'card entry-install', 'aria-label': e.installed ? 'Update' : 'Install', onsubmit: (ev) => {
      ev.preventDefault();
      this.run(kind, this.chosen);
    }},
    installed,
    h('div', {class: 'field'}, h('label', {for: 'entry-version'}, 'Version'), select),
    same ? h('p', {class: 'muted'}, 'This version is the one installed.') : null,
    button);
  }

  // run installs or updates the entry at version, followed in the
  // progress card.
  run(kind, version) {
    const e = this.entry;
    if (!e || this.running) return;
    const what = kind === 'update' ? `${e.id}: ${e.installed_version} → ${version}` : `${e.id} ${version}`;
    this.progress.start(`${what}, from the catalog ${e.catalog}`, false,
      () => this.app.api.post(entryPath(e.id, `/${kind}?async=true`), {version}), kind);
  }

  busy(on) {
    this.running = on;
    const button = this.el.querySelector('[data-entry-action]');
    if (button) button.disabled = on;
    // The entry says what is installed now.
    if (!on && this.id) this.load();
  }

  // asks shows what a version asks for: its permissions and its access to
  // Kubernetes clusters, granted at install as the policy allows.
  asks(v) {
    if (!v) return h('p', {class: 'muted'}, 'No version.');
    const perms = v.permissions ?? [];
    // The access is as the manifest's kubernetes field says it.
    const kube = v.kubernetes ?? {};
    const rules = kube.rules ?? [];
    const contexts = kube.contexts ?? [];
    return [
      h('p', null, h('span', {class: 'badge'}, v.tier), ' ', v.tier === 'native'
        ? 'Runs inside the server process, with the server\'s access to the network and files.'
        : 'Runs in the sandbox, with only what it is granted.'),
      h('h3', null, 'Permissions'),
      perms.length ? h('ul', {dataset: {permissions: ''}}, perms.map((p) => h('li', null, h('code', null, p)))) : h('p', {class: 'muted'}, 'None.'),
      h('h3', null, 'Kubernetes access'),
      rules.length || contexts.length || kube.external_clusters ? h('div', {dataset: {kubernetes: ''}},
        contexts.length ? h('p', null, 'Contexts: ', contexts.map((c, i) => [i ? ', ' : '', h('code', null, c)])) : null,
        rules.length ? h('ul', null, rules.map((r) => h('li', null, fmt.kubeRule(r)))) : null,
        kube.external_clusters ? h('p', null, 'Clusters whose kubeconfig a caller brings.') : null)
        : h('p', {class: 'muted'}, 'None.'),
      v.host_versions ? h('p', {class: 'muted'}, `Works with servers ${v.host_versions}.`) : null,
    ];
  }

  versions(versions) {
    if (!versions.length) return h('p', {class: 'muted'}, 'No versions.');
    const source = (s) => {
      if (!s) return '';
      if (s.archive) return s.archive;
      const path = s.path ? ` (${s.path})` : '';
      return `${(s.repository ?? '').replace(/^https?:\/\//, '')} @ ${fmt.shortPin(s.commit)}${path}`;
    };
    return h('div', {class: 'table-wrap'}, h('table', {class: 'versions'},
      h('caption', {class: 'visually-hidden'}, 'Versions, newest first'),
      h('thead', null, h('tr', null, ['Version', 'Tier', 'Digest', 'Source', 'Server versions'].map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', null, versions.map((v) => h('tr', {dataset: {version: v.version}},
        h('td', null, v.version, v.version === this.entry.installed_version && this.entry.installed ? [' ', h('span', {class: 'badge ok'}, 'installed')] : null),
        h('td', null, v.tier),
        h('td', {class: 'digest'}, h('code', {title: v.digest}, v.digest)),
        h('td', {class: 'source'}, source(v.source)),
        h('td', null, v.host_versions || 'any'))))));
  }
}
