// Plugins' UI components at the page's extension points, and the bridge
// that answers them. Each component is framed with sandbox="allow-scripts"
// and no allow-same-origin, and its files are served with a CSP sandbox
// and connect-src 'none': it runs in an opaque origin, cannot read this
// page, its storage or its token, and can make no request of its own. What
// it may have it asks for by postMessage (bridge version 1, see
// docs/web.md), and every message is checked here.

import {h} from './dom.js';

// BRIDGE_VERSION is the version of the messages this page speaks.
export const BRIDGE_VERSION = 1;

// Extension points (a component's slot).
export const SLOT_DETAIL_TAB = 'detail-tab';

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
      title: c.title || c.name, class: 'extension', dataset: {extension: `${p.id}/${c.name}`},
    });
    this.frames.set(el, p.id);
    return el;
  }

  // pluginOf is the id of the plugin whose frame source is, if any;
  // frames gone from the page are forgotten on the way.
  pluginOf(source) {
    let found = null;
    for (const [el, id] of this.frames) {
      if (!el.isConnected) this.frames.delete(el);
      else if (source && el.contentWindow === source) found = id;
    }
    return found;
  }

  onMessage(e) {
    const pluginId = this.pluginOf(e.source);
    // Not one of our frames: say nothing to it.
    if (!pluginId) return;
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
          reply({ok: true, result: this.context(pluginId)});
          return;
        case 'call':
          this.call(pluginId, m).then((result) => reply({ok: true, result}), refuse);
          return;
        default:
          throw new BridgeError('unknown_type', `no message type ${JSON.stringify(m.type)}; version ${BRIDGE_VERSION} has context and call`);
      }
    } catch (err) {
      refuse(err);
    }
  }

  context(pluginId) {
    return {
      version: BRIDGE_VERSION, plugin: pluginId,
      theme: document.documentElement.dataset.theme ?? 'light',
      user: {name: this.app.me?.name ?? '', role: this.app.me?.role ?? ''},
    };
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
