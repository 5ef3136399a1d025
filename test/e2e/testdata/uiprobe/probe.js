// Beside the example's own chart script, tries everything a UI component
// must not be able to do, and reports to the page what happened, by the
// only channel it has: postMessage. MARKER changes between versions of
// the plugin, to tell a reloaded frame from the old one.
(function () {
  'use strict';
  var MARKER = 'v1';
  var results = {marker: MARKER};
  function attempt(name, f) {
    try {
      results[name] = 'allowed: ' + String(f());
    } catch (e) {
      results[name] = 'refused: ' + e.name;
    }
  }
  attempt('parentDocument', function () { return window.parent.document.body.innerHTML.length; });
  attempt('topDocument', function () { return window.top.document.title; });
  attempt('parentSessionStorage', function () { return JSON.stringify(window.parent.sessionStorage); });
  attempt('parentLocalStorage', function () { return JSON.stringify(window.parent.localStorage); });
  attempt('ownSessionStorage', function () { return JSON.stringify(sessionStorage); });
  attempt('ownLocalStorage', function () { return JSON.stringify(localStorage); });
  attempt('cookie', function () { return document.cookie; });
  results.origin = String(window.origin);

  function outcome(p) {
    return p.then(function (v) { return 'allowed: ' + v; }, function (e) { return 'refused: ' + (e.code || e.name); });
  }
  function status(r) { return r.status + ' ' + r.body; }
  // A message of another version, by hand: the page must answer it with a
  // refusal, not act on it.
  var oldVersion = new Promise(function (resolve) {
    window.addEventListener('message', function (e) {
      if (e.data && e.data.id === 7777) resolve(e.data.ok ? 'allowed' : 'refused: ' + e.data.error.code);
    });
    window.parent.postMessage({ksplugins: 2, id: 7777, type: 'context'}, '*');
  });
  var asks = {
    fetchApi: outcome(fetch('/api/plugins/whoami').then(function (r) { return r.status; })),
    fetchOwnEndpoint: outcome(fetch('/api/plugin-endpoints/primes-chart/series').then(function (r) { return r.status; })),
    bridgeOwn: outcome(ksplugins.call('GET', '/series').then(status)),
    bridgeDotDot: outcome(ksplugins.call('GET', '/../../plugins/whoami').then(status)),
    bridgeEscapedDots: outcome(ksplugins.call('GET', '/%2e%2e/%2E%2E/plugins/whoami').then(status)),
    bridgeUndeclared: outcome(ksplugins.call('POST', '/series').then(status)),
    bridgeManagement: outcome(ksplugins.call('DELETE', '/api/plugins/primes-chart').then(status)),
    bridgeAbsolute: outcome(ksplugins.call('GET', 'https://example.com/').then(status)),
    bridgeOtherPlugin: outcome(ksplugins.call('GET', '/../boundary/echo').then(status)),
    bridgeUnknownType: outcome(ksplugins.ask('navigate-anywhere', {to: '/api/plugins'})),
    bridgeOldVersion: oldVersion,
    context: outcome(ksplugins.context().then(function (c) { return c.version + ' ' + c.plugin + ' ' + c.user.name + ' ' + c.user.role; })),
    slot: ksplugins.context().then(function (c) { return c.slot; }),
    bridgeNavigateAway: outcome(ksplugins.ask('navigate', {to: 'https://example.com/'})),
    bridgeNavigateScript: outcome(ksplugins.ask('navigate', {to: 'javascript:alert(1)'})),
  };
  var names = Object.keys(asks);
  var chartShown = new Promise(function (resolve) {
    (function wait() {
      var caption = document.getElementById('caption').textContent;
      if (caption) resolve(caption);
      else setTimeout(wait, 50);
    })();
  });
  Promise.all(names.map(function (k) { return asks[k]; }).concat([chartShown])).then(function (values) {
    names.forEach(function (k, i) { results[k] = values[i]; });
    results.chart = values[names.length];
    window.parent.postMessage({probe: results}, '*');
    // Again whenever the page asks: a report sent before anyone listened
    // is not lost.
    window.addEventListener('message', function (e) {
      if (e.source === window.parent && e.data && e.data.probeAsk) window.parent.postMessage({probe: results}, '*');
    });
  });
})();
