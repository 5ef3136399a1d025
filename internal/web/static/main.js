// The plugin manager page: signs in with a token, keeps the list of
// plugins current from the event stream, and routes between the views
// (#/plugins, #/plugins/<id>, #/catalog, #/catalog/<id>, #/install,
// #/system).

import {$, showOnly} from './dom.js';
import {Api, pluginPath} from './api.js';
import {EventStream} from './stream.js';
import {PluginList} from './list.js';
import {PluginDetail} from './detail.js';
import {Bridge, ExtensionPoints} from './extensions.js';
import {Installer} from './install.js';
import {SystemView} from './system.js';
import {CatalogView, CAN} from './catalog.js';
import {CatalogEntry} from './entry.js';
import {notifyError} from './notices.js';

// The token lives in sessionStorage: this tab only, gone when it closes.
const TOKEN_KEY = 'ksplugins.token';
// Events about one plugin often come in bursts (a reload: state, health,
// config); one refetch answers them all.
const COALESCE_MS = 100;

class App {
  constructor() {
    this.plugins = new Map();
    // loaded: the list has been read once since signing in; until then an
    // empty list means "not yet", not "none".
    this.loaded = false;
    this.me = null;
    this.api = null;
    this.stream = null;
    this.pendingRefresh = new Map();
    // asked numbers the questions asked about plugins, and answered holds,
    // by plugin id, the number of the newest one whose answer is shown.
    this.asked = 0;
    this.answered = new Map();
    // updates: the catalog entries of installed plugins that have a newer
    // version, by plugin id.
    this.updates = new Map();
    this.views = [...document.querySelectorAll('main > .view')];
    this.list = new PluginList(this);
    this.bridge = new Bridge(this);
    this.extensions = new ExtensionPoints(this);
    this.detail = new PluginDetail(this);
    this.installer = new Installer(this);
    this.system = new SystemView(this);
    this.catalog = new CatalogView(this);
    this.entry = new CatalogEntry(this);
  }

  // can says whether the signed-in caller may take an API action.
  can(action) {
    return this.me?.allowed?.includes(action) ?? false;
  }

  async boot() {
    $('#login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const input = $('#login-token');
      const token = input.value.trim();
      if (!token) {
        this.showLogin('Paste a token first.');
        return;
      }
      if (await this.signIn(token)) input.value = '';
    });
    $('#sign-out').addEventListener('click', () => {
      this.signOut();
      this.showLogin('');
    });
    window.addEventListener('hashchange', () => this.route(true));
    const saved = sessionStorage.getItem(TOKEN_KEY) ?? '';
    // Without a saved token, try none: a server started for local
    // development serves everyone as admin.
    if (!(await this.signIn(saved, {quiet: !saved}))) return;
  }

  // signIn checks token with whoami and, if it is good, starts the page.
  async signIn(token, {quiet = false} = {}) {
    const api = new Api(token, (err) => {
      if (this.api === api) this.refused(err);
    });
    try {
      this.me = await api.get('/api/plugins/whoami');
    } catch (err) {
      this.showLogin(quiet ? '' : err.status === 401
        ? `The server refused this token: ${err.message}`
        : `Could not sign in: ${err.message}`);
      return false;
    }
    this.api = api;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    this.start();
    return true;
  }

  // refused is called when the server stops accepting the token (revoked,
  // expired): the page asks for another.
  refused(err) {
    this.signOut();
    this.showLogin(`The server no longer accepts this token: ${err.message}`);
  }

  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    this.stream?.stop();
    this.stream = null;
    this.api = null;
    this.me = null;
    this.plugins.clear();
    this.loaded = false;
    this.updates = new Map();
    this.extensions.render();
    this.detail.close();
    this.system.hide();
    this.catalog.hide();
    this.entry.close();
  }

  showLogin(message) {
    for (const id of ['#nav', '#who', '#stream-status']) $(id).hidden = true;
    showOnly(this.views, $('#view-login'));
    $('#login-error').textContent = message;
    $('#login-token').setAttribute('aria-invalid', message ? 'true' : 'false');
    $('#login-token').focus();
  }

  start() {
    $('#who-name').textContent = this.me.name;
    $('#who-role').textContent = this.me.role;
    $('#who').hidden = false;
    // A server in local development mode serves everyone as admin: there
    // is nothing to sign out of.
    $('#sign-out').hidden = this.me.via === 'local';
    $('#nav').hidden = false;
    $('#who-role').dataset.role = this.me.role;
    // Offer only what the role allows.
    for (const el of document.querySelectorAll('[data-needs]')) el.hidden = !this.can(el.dataset.needs);
    const status = $('#stream-status');
    status.hidden = false;
    this.stream = new EventStream(this.api, {
      onEvent: (e) => this.onEvent(e),
      onStatus: (state, text) => {
        status.dataset.state = state;
        status.textContent = text;
      },
      onSync: () => this.sync(),
    });
    this.stream.start();
    this.loadPlugins();
    this.route(false);
  }

  // sync reloads everything the event stream may have missed.
  sync() {
    this.loadPlugins();
    this.installer.sync();
    if (this.detail.id) this.detail.loadEvents();
    if (this.system.open) this.system.show();
    this.catalog.sync();
    if (this.entry.id) this.entry.sync();
  }

  async loadPlugins() {
    const n = ++this.asked;
    try {
      const res = await this.api.get('/api/plugins');
      const listed = new Map(res.plugins.map((p) => [p.id, p]));
      for (const id of [...this.plugins.keys()]) {
        if (!listed.has(id) && this.newest(id, n)) this.plugins.delete(id);
      }
      for (const [id, p] of listed) {
        if (this.newest(id, n)) this.plugins.set(id, p);
      }
      this.loaded = true;
      this.list.render();
      this.extensions.render();
      this.detail.update();
    } catch (err) {
      if (err.status !== 401) notifyError('Could not list the plugins', err);
    }
  }

  // newest says whether the answer to question n is the newest word on the
  // plugin id, and makes it so. Answers can arrive out of order: a list asked
  // before an event can come back after the refetch that event caused, and
  // must not undo it.
  newest(id, n) {
    if ((this.answered.get(id) ?? 0) > n) return false;
    this.answered.set(id, n);
    return true;
  }

  onEvent(e) {
    this.installer.onEvent(e);
    this.detail.onEvent(e);
    this.system.onEvent(e);
    this.catalog.onEvent(e);
    this.entry.onEvent(e);
    if (!e.plugin_id || e.type === 'progress') return;
    // A failed install's error is about a plugin that never arrived.
    if (e.type === 'error' && !this.plugins.has(e.plugin_id)) return;
    if (e.type === 'unloaded') {
      this.forget(e.plugin_id);
      return;
    }
    clearTimeout(this.pendingRefresh.get(e.plugin_id));
    this.pendingRefresh.set(e.plugin_id, setTimeout(() => {
      this.pendingRefresh.delete(e.plugin_id);
      this.refresh(e.plugin_id);
    }, COALESCE_MS));
  }

  // refresh fetches one plugin as it is now.
  async refresh(id) {
    if (!this.api) return;
    const n = ++this.asked;
    try {
      this.remember(await this.api.get(pluginPath(id)), n);
    } catch (err) {
      if (err.status === 404) this.forget(id, n);
    }
  }

  // remember shows what an answer says of a plugin; n numbers the question
  // it answers, when it was asked before now.
  remember(info, n = ++this.asked) {
    if (!this.api || !this.newest(info.id, n)) return;
    this.plugins.set(info.id, info);
    this.list.render();
    this.extensions.render();
    if (this.detail.id === info.id) this.detail.update();
  }

  forget(id, n = ++this.asked) {
    if (!this.newest(id, n)) return;
    this.plugins.delete(id);
    this.list.render();
    this.extensions.render();
    if (this.detail.id === id) this.detail.update();
  }

  // route shows the view the address names; moved says the address
  // changed, so the focus goes to the new view for keyboard and screen
  // reader users.
  route(moved) {
    if (!this.me) return;
    const [, section = 'plugins', rest = ''] = (location.hash || '#/plugins').match(/^#\/([^/]*)\/?(.*)$/) ?? [];
    this.detail.close();
    this.system.hide();
    this.catalog.hide();
    this.entry.close();
    this.extensions.close();
    let view;
    let title = 'Plugins';
    if (section === 'install' && this.can('upload')) {
      view = $('#view-install');
      title = 'Install a plugin';
    } else if (section === 'system') {
      view = $('#view-system');
      title = 'System';
      this.system.show();
    } else if (section === 'ext' && rest.includes('/')) {
      view = $('#view-extension');
      const [id, name] = rest.split('/').map(decodeURIComponent);
      title = name;
      this.extensions.open(id, name);
    } else if (section === 'catalog' && rest && this.can(CAN.list)) {
      view = $('#view-entry');
      title = decodeURIComponent(rest);
      this.entry.open(title);
    } else if (section === 'catalog' && this.can(CAN.list)) {
      view = $('#view-catalog');
      title = 'Catalog';
      this.catalog.show();
    } else if (section === 'plugins' && rest) {
      view = $('#view-detail');
      title = decodeURIComponent(rest);
      this.detail.open(title);
    } else {
      view = $('#view-plugins');
      this.list.render();
    }
    showOnly(this.views, view);
    const nav = section === 'ext' ? `ext/${rest.split('/').map(decodeURIComponent).join('/')}`
      : section === 'plugins' || !['install', 'system', 'catalog'].includes(section) ? 'plugins' : section;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${title} · KubeStellar plugins`;
    if (moved) $('#main').focus();
  }
}

new App().boot();
