// The ksplugins extension bridge, version 1: what a plugin's UI component,
// framed by the manager page in a sandbox, uses to ask the page for what it
// may have. Load it with <script src="/plugins-ui/bridge-v1.js"></script>;
// it defines window.ksplugins:
//
//   ksplugins.context()             -> {version, plugin, component, slot, theme, user: {name, role}}
//   ksplugins.call(method, path, body) -> {status, contentType, body}
//       calls one of this plugin's own declared endpoints, with the
//       signed-in user's rights; path is below the plugin, e.g. "/stats".
//   ksplugins.navigate(to)          -> {to}
//       moves the page to one of its views, e.g. "#/plugins/<id>".
//
// Each returns a promise; a refusal rejects it with an Error whose code
// says why. Every request is a message {ksplugins: 1, id, type, ...} to the
// page, which answers {ksplugins: 1, id, ok, result} or
// {ksplugins: 1, id, ok: false, error: {code, message}}.
(function () {
  'use strict';
  var VERSION = 1;
  var next = 1;
  var pending = new Map();

  window.addEventListener('message', function (e) {
    if (e.source !== window.parent) return;
    var m = e.data;
    if (!m || m.ksplugins !== VERSION || typeof m.id !== 'number' || !pending.has(m.id)) return;
    var p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) {
      p.resolve(m.result);
      return;
    }
    var err = new Error((m.error && m.error.message) || 'refused by the page');
    err.code = (m.error && m.error.code) || 'refused';
    p.reject(err);
  });

  function ask(type, fields) {
    return new Promise(function (resolve, reject) {
      var id = next++;
      pending.set(id, {resolve: resolve, reject: reject});
      var msg = Object.assign({}, fields, {ksplugins: VERSION, id: id, type: type});
      // The page's origin is not this document's to know (it runs in an
      // opaque one), and nothing sent here is secret: "*".
      window.parent.postMessage(msg, '*');
    });
  }

  window.ksplugins = Object.freeze({
    version: VERSION,
    context: function () { return ask('context', {}); },
    call: function (method, path, body) { return ask('call', {method: method, path: path, body: body}); },
    navigate: function (to) { return ask('navigate', {to: to}); },
    // ask sends any message: for extensions that speak the protocol
    // themselves, and for tests of what the page refuses.
    ask: ask,
  });
})();
