// Plugins' UI components at the page's extension points, and the bridge
// that answers them. Each component is framed with sandbox="allow-scripts"
// and no allow-same-origin, and its files are served with a CSP sandbox
// and connect-src 'none': it runs in an opaque origin, cannot read this
// page, its storage or its token, and can make no request of its own. What
// it may have it asks for by postMessage (bridge version 1, see
// docs/web.md), and every message is checked here.

import {h, replace} from './dom.js';

// BRIDGE_VERSION is the version of the messages this page speaks.
export const BRIDGE_VERSION = 1;

// Extension points (a component's slot).
export const SLOT_DETAIL_TAB = 'detail-tab';
export const SLOT_PAGE = 'page';
export const SLOT_CARD = 'card';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const MAX_PATH = 2048;
const MAX_BODY_CHARS = 1 << 20;

// components are plugin p's UI components shown at slot: those with an
// entry file (the seed's manifests declare components without one).
export function components(p, slot) {
  return (p.metadata?.ui_components ?? []).filter((c) => c.entry && (c.slot || SLOT_DETAIL_TAB) === slot);
}

// uiPath is where the server serves plugin id's UI file entry.
export const uiPath = (id, entry) => `/plugins-ui/${encodeURIComponent(id)}/${entry.split('/').map(encodeURIComponent).join('/')}`;

// BridgeError is a refusal, with the code the component is told.
class BridgeError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Bridge {
  constructor(app) {
    this.app = app;
    // frames maps each component's iframe to its plugin's id: a message is
    // answered only when it comes from one of them, and only for its
    // plugin.
    this.frames = new Map();
    window.addEventListener('message', (e) => this.onMessage(e));
  }

  // frame is the sandboxed iframe of plugin p's component c.
  frame(p, c) {
    const el = h('iframe', {
      src: uiPath(p.id, c.entry), sandbox: 'allow-scripts', referrerpolicy: 'no-referrer',
      title: c.title || c.name, class: `extension extension-${c.slot || SLOT_DETAIL_TAB}`, dataset: {extension: `${p.id}/${c.name}`},
    });
    this.frames.set(el, {plugin: p.id, component: c.name, slot: c.slot || SLOT_DETAIL_TAB});
    return el;
  }

  // frameOf is what the frame whose window is source shows, if it is one
  // of ours; frames gone from the page are forgotten on the way.
  frameOf(source) {
    let found = null;
    for (const [el, f] of this.frames) {
      if (!el.isConnected) this.frames.delete(el);
      else if (source && el.contentWindow === source) found = f;
    }
    return found;
  }

  onMessage(e) {
    const frame = this.frameOf(e.source);
    // Not one of our frames: say nothing to it.
    if (!frame) return;
    const pluginId = frame.plugin;
    const m = e.data;
    const id = typeof m?.id === 'number' ? m.id : null;
    // The frame is opaque: it cannot be addressed by origin, and is the
    // only window that gets the answer.
    const reply = (fields) => e.source.postMessage({ksplugins: BRIDGE_VERSION, id, ...fields}, '*');
    const refuse = (err) => reply({ok: false, error: {code: err.code ?? 'refused', message: err.message}});
    try {
      if (e.origin !== 'null') throw new BridgeError('not_sandboxed', 'the frame does not run in an opaque origin');
      if (!m || typeof m !== 'object' || id === null || typeof m.type !== 'string') {
        throw new BridgeError('bad_message', 'a message is an object {ksplugins, id (a number), type, ...}');
      }
      if (m.ksplugins !== BRIDGE_VERSION) {
        throw new BridgeError('unsupported_version', `this page speaks bridge version ${BRIDGE_VERSION}, not ${JSON.stringify(m.ksplugins)}`);
      }
      switch (m.type) {
        case 'context':
          reply({ok: true, result: this.context(frame)});
          return;
        case 'navigate':
          reply({ok: true, result: this.navigate(m.to)});
          return;
        case 'call':
          this.call(pluginId, m).then((result) => reply({ok: true, result}), refuse);
          return;
        default:
          throw new BridgeError('unknown_type', `no message type ${JSON.stringify(m.type)}; version ${BRIDGE_VERSION} has context, call and navigate`);
      }
    } catch (err) {
      refuse(err);
    }
  }

  context(frame) {
    return {
      version: BRIDGE_VERSION, plugin: frame.plugin, component: frame.component, slot: frame.slot,
      theme: document.documentElement.dataset.theme ?? 'light',
      user: {name: this.app.me?.name ?? '', role: this.app.me?.role ?? ''},
    };
  }

  // navigate moves the page to one of its own views: the address is a
  // fragment the page routes, never a URL that would leave it.
  navigate(to) {
    if (typeof to !== 'string' || !/^#\/(plugins|system|install|ext)(\/[A-Za-z0-9._~%-]+){0,2}$/.test(to)) {
      throw new BridgeError('bad_target', 'navigate goes to one of the page\'s views, such as "#/plugins/<id>"');
    }
    location.hash = to;
    return {to};
  }

  // call makes the request m asks for on plugin pluginId's own endpoint,
  // with the signed-in user's token, once it is sure the request can reach
  // nothing else: one of the endpoints the plugin declares, no path that a
  // URL parser would move elsewhere, no redirect followed.
  async call(pluginId, m) {
    const p = this.app.plugins.get(pluginId);
    if (!p) throw new BridgeError('plugin_gone', `plugin ${pluginId} is not installed`);
    const method = typeof m.method === 'string' ? m.method.toUpperCase() : '';
    if (!METHODS.includes(method)) throw new BridgeError('bad_method', `method must be one of ${METHODS.join(', ')}`);
    const path = ownPath(p, method, m.path);
    const init = {method, headers: this.app.api.headers(), cache: 'no-store', redirect: 'error', referrerPolicy: 'no-referrer'};
    if (m.body !== undefined && m.body !== null) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(m.body);
    }
    let res;
    try {
      res = await fetch(`/api/plugin-endpoints/${encodeURIComponent(pluginId)}${path}`, init);
    } catch (err) {
      throw new BridgeError('network_error', `the call did not complete (a redirect is not followed): ${err.message}`);
    }
    const body = await res.text();
    if (body.length > MAX_BODY_CHARS) throw new BridgeError('too_large', `the answer is over ${MAX_BODY_CHARS} characters`);
    return {status: res.status, contentType: res.headers.get('Content-Type') ?? '', body};
  }
}

// ownPath is path (with its query) when it names one of plugin p's
// declared endpoints for method; otherwise it throws.
function ownPath(p, method, path) {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > MAX_PATH || /[\\#\s]/.test(path)) {
    throw new BridgeError('bad_path', 'path must start with "/" and hold no "\\", "#" or spaces');
  }
  const q = path.indexOf('?');
  const segments = (q < 0 ? path : path.slice(0, q)).slice(1).split('/');
  let decoded;
  try {
    decoded = segments.map(decodeURIComponent);
  } catch {
    throw new BridgeError('bad_path', 'path holds a bad escape');
  }
  // A dot segment, escaped or not, would take the URL out of the plugin's
  // endpoints (to /api/plugins, say) once the browser resolves it.
  if (decoded.some((s) => s === '.' || s === '..' || s.includes('/') || s.includes('\\'))) {
    throw new BridgeError('not_this_plugin', 'path must stay below the plugin\'s endpoints');
  }
  if (!(p.endpoints ?? []).some((ep) => ep.method.toUpperCase() === method && matches(ep.path, decoded))) {
    throw new BridgeError('not_declared', `plugin ${p.id} declares no endpoint ${method} ${path}`);
  }
  return path;
}

// matches says whether a declared endpoint path (":name" one segment,
// "*name" the rest) matches the segments of a requested path.
function matches(pattern, segments) {
  const parts = pattern.replace(/^\//, '').split('/');
  for (let i = 0; i < parts.length; i++) {
    if (parts[i].startsWith('*')) return true;
    if (i >= segments.length) return false;
    if (parts[i].startsWith(':') ? segments[i] === '' : parts[i] !== segments[i]) return false;
  }
  return parts.length === segments.length;
}

// ExtensionPoints shows plugins' components at the page's extension
// points outside the detail view: a page of its own in the navigation
// (slot "page", at #/ext/<id>/<name>) and a card above the plugin list
// (slot "card"). Only active plugins' components are shown, and a frame
// is made again only when its plugin's instance changes (a reload), so
// the page's frequent redraws do not restart them.
export class ExtensionPoints {
  constructor(app) {
    this.app = app;
    this.navShown = '';
    this.cardsShown = '';
    this.pageShown = '';
  }

  // shown are the components at slot of the active plugins, with their
  // plugin, in the order of the plugins' ids.
  shown(slot) {
    return [...this.app.plugins.values()]
      .filter((p) => p.state === 'active' && p.artifact?.ui_digest)
      .sort((a, b) => a.id.localeCompare(b.id))
      .flatMap((p) => components(p, slot).map((c) => ({p, c})));
  }

  render() {
    this.renderNav();
    this.renderCards();
    if (this.page) this.renderPage();
  }

  renderNav() {
    const items = this.shown(SLOT_PAGE);
    const key = JSON.stringify(items.map(({p, c}) => [p.id, c.name, c.title, c.icon]));
    if (key === this.navShown) return;
    this.navShown = key;
    replace(document.querySelector('#nav-ext'), items.map(({p, c}) =>
      h('a', {href: `#/ext/${encodeURIComponent(p.id)}/${encodeURIComponent(c.name)}`, dataset: {nav: `ext/${p.id}/${c.name}`}},
        c.icon ? `${c.icon} ` : '', c.title || c.name)));
  }

  renderCards() {
    const items = this.shown(SLOT_CARD);
    const key = JSON.stringify(items.map(({p, c}) => [p.id, c, p.artifact.ui_digest, p.loaded_at]));
    if (key === this.cardsShown) return;
    this.cardsShown = key;
    const box = document.querySelector('#plugin-cards');
    box.hidden = items.length === 0;
    replace(box, items.map(({p, c}) => h('section', {class: 'card extension-card', 'aria-label': c.title || c.name},
      h('h2', null, c.icon ? `${c.icon} ` : '', c.title || c.name, ' ', h('span', {class: 'muted'}, p.name || p.id)),
      this.app.bridge.frame(p, c))));
  }

  // open shows the page component name of plugin id in #view-extension;
  // close leaves it.
  open(id, name) {
    this.page = {id, name};
    this.pageShown = '';
    this.renderPage();
  }

  close() {
    this.page = null;
  }

  renderPage() {
    const {id, name} = this.page;
    const p = this.app.plugins.get(id);
    const c = p && components(p, SLOT_PAGE).find((x) => x.name === name);
    const live = c && p.state === 'active' && p.artifact?.ui_digest;
    const key = JSON.stringify([id, name, this.app.loaded, live ? [c, p.artifact.ui_digest, p.loaded_at] : p?.state]);
    if (key === this.pageShown) return;
    this.pageShown = key;
    const view = document.querySelector('#view-extension');
    if (!live) {
      replace(view, h('h1', {id: 'extension-title'}, name),
        h('p', {class: 'empty'}, !this.app.loaded ? 'Loading…' : p ? `Plugin ${id} shows this page while it is active; it is ${p.state}.` : `Plugin ${id} has no page ${name}.`));
      return;
    }
    replace(view, h('h1', {id: 'extension-title'}, c.icon ? `${c.icon} ` : '', c.title || c.name, ' ', h('span', {class: 'muted'}, p.name || p.id)),
      this.app.bridge.frame(p, c));
  }
}
