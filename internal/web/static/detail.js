// One plugin in full: manifest, endpoints to try, what it was granted, its
// limits, its configuration to edit, health history, recent events and
// traffic charts.

import {h, $, patch, replace} from './dom.js';
import * as fmt from './format.js';
import {pluginPath, ApiError} from './api.js';
import {actionButtons} from './actions.js';
import {stateBadge, healthBadge} from './list.js';
import {errorBox, notify, notifyError} from './notices.js';
import {lineChart} from './chart.js';
import {components, SLOT_DETAIL_TAB} from './extensions.js';

const MAX_EVENTS = 30;
const MAX_BODY_CHARS = 64 * 1024;

export class PluginDetail {
  constructor(app) {
    this.app = app;
    this.el = $('#view-detail');
    this.id = null;
  }

  // open shows plugin id, fetching what the list does not carry.
  open(id) {
    this.close();
    this.id = id;
    this.events = [];
    this.history = null;
    this.endpointsShown = '';
    this.configShown = '';
    this.configDirty = false;
    this.tryResults = new Map();
    this.extensionsShown = '';
    this.extensionTab = 0;
    const p = this.app.plugins.get(id);
    this.build(p);
    this.loadEvents();
    this.loadHistory();
  }

  close() {
    clearTimeout(this.timer);
    this.id = null;
  }

  // build lays out the sections once; update fills them.
  build(p) {
    const section = (key, title) => h('section', {class: 'card', dataset: {section: key}, 'aria-labelledby': `d-${key}`},
      h('h2', {id: `d-${key}`}, title), h('div', {dataset: {body: key}}));
    replace(this.el,
      h('p', null, h('a', {href: '#/plugins'}, '← All plugins')),
      h('div', {class: 'detail-head', dataset: {body: 'head'}},
        h('div', {class: 'detail-title', dataset: {part: 'title'}}),
        h('div', {class: 'row-actions', dataset: {part: 'actions'}})),
      h('section', {class: 'card', dataset: {section: 'extensions'}, 'aria-labelledby': 'd-extensions', hidden: true},
        h('h2', {id: 'd-extensions'}, 'Extensions'), h('div', {dataset: {body: 'extensions'}})),
      h('div', {class: 'detail-grid'},
        h('div', null, section('overview', 'Manifest'), section('access', 'Permissions, capabilities and limits')),
        h('div', null, section('health', 'Health'), section('traffic', 'Traffic'))),
      section('endpoints', 'Endpoints'),
      h('div', {class: 'detail-grid'},
        section('config', 'Configuration'),
        section('events', 'Recent events')));
    this.update(p);
  }

  body(key) { return this.el.querySelector(`[data-body="${key}"]`); }

  // update shows the plugin as it is now (null: it is gone).
  update(p = this.app.plugins.get(this.id)) {
    if (!this.id) return;
    if (!p && !this.app.loaded) {
      replace(this.el, h('h1', {id: 'detail-title'}, this.id), h('p', null, 'Loading…'));
      return;
    }
    if (!p) {
      replace(this.el, h('h1', {id: 'detail-title'}, this.id),
        h('p', {class: 'empty', dataset: {gone: ''}}, `Plugin ${this.id} is not installed (any more). `, h('a', {href: '#/plugins'}, 'Back to all plugins'), '.'));
      return;
    }
    if (!this.body('head')) this.build(p);
    // The buttons are drawn again only when the actions change, so that a
    // health event does not replace a button under the pointer.
    const head = this.body('head');
    patch(head.querySelector('[data-part="title"]'), `${p.name}|${p.version}|${p.state}|${p.health?.status}|${p.tier}`, () => [
      h('h1', {id: 'detail-title'}, p.name || p.id, ' ', h('span', {class: 'muted'}, p.version)),
      stateBadge(p.state), healthBadge(p.health?.status ?? 'unknown'), h('span', {class: 'badge'}, p.tier)]);
    patch(head.querySelector('[data-part="actions"]'), `${p.enabled}|${p.source?.kind}|${p.dependants?.join()}`, () => actionButtons(this.app, p, 'detail'));
    this.renderExtensions(p);
    replace(this.body('overview'), this.overview(p));
    replace(this.body('access'), this.access(p));
    replace(this.body('health'), this.health(p));
    this.renderTraffic(p);
    const eps = JSON.stringify(p.endpoints);
    if (eps !== this.endpointsShown) {
      this.endpointsShown = eps;
      replace(this.body('endpoints'), this.endpoints(p));
    }
    const cfg = JSON.stringify([p.configuration, p.metadata?.configuration]);
    if (cfg !== this.configShown && !this.configDirty) {
      this.configShown = cfg;
      replace(this.body('config'), this.config(p));
    }
    this.renderEvents();
  }

  // renderExtensions shows the plugin's detail-tab components, one tab
  // each, framed by the bridge. The frame is made again only when the
  // components or the running instance change: a reload shows the new UI
  // files, an event about health keeps the frame as it is.
  renderExtensions(p) {
    const list = components(p, SLOT_DETAIL_TAB);
    const key = JSON.stringify([list, p.artifact?.ui_digest, p.loaded_at, p.state, this.extensionTab]);
    if (key === this.extensionsShown) return;
    this.extensionsShown = key;
    const section = this.el.querySelector('[data-section="extensions"]');
    section.hidden = list.length === 0;
    if (!list.length) {
      replace(this.body('extensions'));
      return;
    }
    const current = Math.min(this.extensionTab, list.length - 1);
    const select = (i, focus) => {
      this.extensionTab = i;
      this.renderExtensions(this.app.plugins.get(this.id) ?? p);
      if (focus) this.el.querySelector(`#ext-tab-${i}`)?.focus();
    };
    // One tab stop; the arrow keys, Home and End move between the tabs.
    const keys = {ArrowRight: current + 1, ArrowLeft: current - 1 + list.length, Home: 0, End: list.length - 1};
    const tabs = h('div', {
      role: 'tablist', 'aria-label': 'Extensions', class: 'tabs',
      onkeydown: (e) => {
        if (!(e.key in keys)) return;
        e.preventDefault();
        select(keys[e.key] % list.length, true);
      },
    }, list.map((c, i) =>
      h('button', {
        type: 'button', role: 'tab', id: `ext-tab-${i}`, 'aria-selected': String(i === current), 'aria-controls': 'ext-panel',
        tabindex: i === current ? '0' : '-1', dataset: {extensionTab: c.name},
        onclick: () => select(i, false),
      }, c.icon ? `${c.icon} ` : '', c.title || c.name)));
    const c = list[current];
    const panel = h('div', {role: 'tabpanel', id: 'ext-panel', 'aria-labelledby': `ext-tab-${current}`},
      p.state === 'active' && p.artifact?.ui_digest
        ? this.app.bridge.frame(p, c)
        : h('p', {class: 'muted'}, p.state === 'active' ? 'This plugin\'s UI files are not available on this server (its code was not opened from a build).' : `Shown while the plugin is active; it is ${p.state}.`));
    replace(this.body('extensions'), tabs, panel);
  }

  overview(p) {
    const m = p.metadata ?? {};
    const src = p.source ?? {};
    const rows = [
      ['ID', h('code', null, p.id)], ['Description', m.description], ['Author', m.author], ['License', m.license],
      ['Homepage', m.homepage], ['Source', `${src.kind} ${src.location}`], ['Requested version', src.version],
      ['Folder in repository', src.path !== '.' && src.path], ['Pinned to', src.pin && h('code', null, src.pin)],
      ['Artifact digest', p.artifact?.digest && h('code', null, p.artifact.digest)],
      ['Built', p.artifact?.cached ? 'from the build cache' : p.artifact?.build_duration_ns ? `in ${fmt.seconds(p.artifact.build_duration_ns / 1e9)}` : null],
      ['Loaded', fmt.time(p.loaded_at)], ['Endpoints at', h('code', null, p.base_path)],
      ['Go modules', m.dependencies?.join(', ')],
    ].filter(([, v]) => v != null && v !== '' && v !== false);
    return [
      h('dl', {class: 'facts'}, rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
      this.dependencies(p),
      p.last_error ? [h('h3', null, 'Last error'), errorBox(new ApiError(0, '', p.last_error))] : null,
      p.warnings?.length ? [h('h3', null, 'Warnings'), h('ul', null, p.warnings.map((w) => h('li', null, w.field ? [h('code', null, w.field), `: ${w.message}`] : w.message)))] : null,
    ];
  }

  // dependencies shows the plugins p depends on, each satisfied or not and
  // why, and the plugins that depend on p.
  dependencies(p) {
    const deps = p.dependencies ?? [];
    const dependants = p.dependants ?? [];
    if (!deps.length && !dependants.length) return null;
    const dep = (d) => h('li', {dataset: {dependency: d.plugin, satisfied: String(d.satisfied)}},
      h('code', null, d.plugin), ` ${d.range || 'any version'} `,
      h('span', {class: `badge ${d.satisfied ? 'ok' : 'bad'}`}, d.satisfied ? `satisfied by ${d.installed}` : `not satisfied: ${d.reason}`));
    return [
      deps.length ? [h('h3', null, 'Depends on'), h('ul', {dataset: {dependencies: ''}}, deps.map(dep))] : null,
      dependants.length ? [h('h3', null, 'Depended on by'),
        h('ul', {dataset: {dependants: ''}}, dependants.map((id) => h('li', null, h('a', {href: `#/plugins/${encodeURIComponent(id)}`}, id))))] : null,
    ];
  }

  access(p) {
    const granted = new Set(p.granted_permissions ?? []);
    const withheld = (p.permissions ?? []).filter((x) => !granted.has(x));
    const list = (items, none) => items.length ? h('ul', null, items.map((x) => h('li', null, h('code', null, x)))) : h('p', {class: 'muted'}, none);
    const sb = p.sandbox;
    const limits = sb ? [
      ['Memory', fmt.bytes(sb.limits.memory_bytes)], ['Time per call', fmt.ms(sb.limits.timeout_ms)],
      ['Instances', sb.limits.pool_size], ['Queue', sb.limits.queue_size],
      ['Request body', fmt.bytes(sb.limits.max_request_bytes)], ['Response body', fmt.bytes(sb.limits.max_response_bytes)],
    ] : [];
    const rated = (p.endpoints ?? []).filter((e) => e.rate_limit?.enabled);
    return [
      h('h3', null, 'Permissions granted'), list([...granted], 'None.'),
      withheld.length ? [h('h3', null, 'Asked for but withheld'), list(withheld, '')] : null,
      p.kubernetes ? this.kubernetes(p.kubernetes) : null,
      h('h3', null, 'Capabilities'),
      sb ? h('ul', null,
        h('li', null, `Network: ${sb.grants.network ? `yes${sb.grants.allowed_hosts?.length ? ` (${sb.grants.allowed_hosts.join(', ')})` : ''}` : 'no'}`),
        h('li', null, `Private storage: ${sb.grants.filesystem ? 'yes' : 'no'}`))
        : h('p', null, 'Native: runs inside the server process, with the server\'s access to the network and files.'),
      h('h3', null, 'Limits'),
      sb ? h('dl', {class: 'facts'}, limits.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]))
        : h('p', null, 'Native: each call into the plugin is bounded by the server\'s call timeout; memory is shared with the server.'),
      rated.length ? h('ul', null, rated.map((e) => h('li', null, `${e.method} ${e.path}: ${e.rate_limit.rpm} requests/min, burst ${e.rate_limit.burst}`))) : null,
    ];
  }

  // kubernetes shows the access to clusters the plugin was granted: its
  // contexts, each rule as "verbs on group/resources in namespaces", and
  // what was asked for but withheld.
  kubernetes(k) {
    const contexts = k.contexts ?? [];
    const rules = k.rules ?? [];
    return h('div', {dataset: {kubernetes: ''}},
      h('h3', null, 'Kubernetes access granted'),
      h('dl', {class: 'facts'},
        h('dt', null, 'Contexts'), h('dd', {dataset: {kubeContexts: ''}}, contexts.length ? contexts.map((c, i) => [i ? ', ' : '', h('code', null, c)]) : 'none'),
        h('dt', null, 'Clusters callers bring'), h('dd', {dataset: {kubeExternal: ''}}, k.external_clusters ? 'yes' : 'no')),
      rules.length ? h('ul', {dataset: {kubeRules: ''}}, rules.map((r) => h('li', null, fmt.kubeRule(r)))) : h('p', {class: 'muted'}, 'No rules.'),
      k.withheld?.length ? [h('h3', null, 'Kubernetes access withheld'), h('ul', {dataset: {kubeWithheld: ''}}, k.withheld.map((w) => h('li', null, w)))] : null);
  }

  health(p) {
    const hs = p.health ?? {};
    const history = hs.history ?? [];
    return [
      h('p', null, healthBadge(hs.status ?? 'unknown'), hs.checking ? ' checking now' : ''),
      h('dl', {class: 'facts'},
        h('dt', null, 'Checked every'), h('dd', null, fmt.seconds(hs.interval_seconds), ` (answer within ${fmt.seconds(hs.timeout_seconds)})`),
        h('dt', null, 'Last check'), h('dd', null, fmt.time(hs.last_check)),
        h('dt', null, 'In a row'), h('dd', null, `${hs.consecutive_successes ?? 0} passed, ${hs.consecutive_failures ?? 0} failed`),
        h('dt', null, 'All checks'), h('dd', null, `${hs.checks ?? 0}, of which ${hs.failures ?? 0} failed`),
        hs.last_error ? [h('dt', null, 'Last error'), h('dd', {dataset: {healthError: ''}}, hs.last_error)] : null),
      history.length ? [
        h('h3', {id: 'd-history'}, `Last ${history.length} checks, oldest first`),
        h('ol', {class: 'history', 'aria-labelledby': 'd-history'}, history.map((s) => h('li', {class: s.ok ? 'ok' : 'fail', title: `${fmt.time(s.time)}: ${s.ok ? 'passed' : `failed: ${s.error}`} (${fmt.ms(s.duration_ms)})`},
          h('span', {class: 'visually-hidden'}, `${fmt.time(s.time)} ${s.ok ? 'passed' : `failed: ${s.error}`}`)))),
      ] : h('p', {class: 'muted'}, 'No checks yet.'),
    ];
  }

  // Endpoints, each GET one with a form to call it.
  endpoints(p) {
    if (!p.endpoints?.length) return h('p', {class: 'muted'}, 'This plugin declares no endpoints.');
    return p.endpoints.map((ep, i) => {
      const params = [...ep.path.matchAll(/[:*]([A-Za-z0-9_]+)/g)].map((m) => m[1]);
      const key = `${ep.method} ${ep.path}`;
      const result = h('div', {class: 'try-result', 'aria-live': 'polite', dataset: {tryResult: key}});
      const saved = this.tryResults.get(key);
      if (saved) replace(result, saved);
      const auth = ep.auth && (ep.auth.required || ep.auth.roles?.length || ep.auth.permissions?.length);
      const form = ep.method === 'GET' ? h('form', {class: 'try', dataset: {try: key}, onsubmit: (e) => {
        e.preventDefault();
        this.tryIt(p, ep, form, result, key);
      }},
      params.map((name) => h('div', {class: 'field'},
        h('label', {for: `try-${i}-${name}`}, name),
        h('input', {id: `try-${i}-${name}`, name, required: true, spellcheck: 'false', autocomplete: 'off'}))),
      h('button', {type: 'submit', class: 'primary small'}, 'Try it')) : null;
      return h('div', {class: 'endpoint', dataset: {endpoint: key}},
        h('div', {class: 'endpoint-sig'},
          h('span', {class: 'method'}, ep.method), h('code', null, ep.path),
          ep.description ? h('span', {class: 'muted'}, ep.description) : null,
          auth ? h('span', {class: 'badge warn'}, 'needs a token') : null,
          ep.rate_limit?.enabled ? h('span', {class: 'badge'}, `${ep.rate_limit.rpm}/min`) : null),
        form, result);
    });
  }

  async tryIt(p, ep, form, result, key) {
    let path = ep.path;
    for (const input of form.querySelectorAll('input')) {
      const value = input.value.trim();
      // A wildcard keeps its slashes; each segment is encoded.
      const encoded = ep.path.includes(`*${input.name}`)
        ? value.split('/').map(encodeURIComponent).join('/')
        : encodeURIComponent(value);
      path = path.replace(new RegExp(`[:*]${input.name}\\b`), () => encoded);
    }
    const url = `${p.base_path}${path}`;
    const needsToken = ep.auth && (ep.auth.required || ep.auth.roles?.length || ep.auth.permissions?.length);
    const button = form.querySelector('button');
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    const started = performance.now();
    let out;
    try {
      // The token goes only to endpoints that ask for one: a plugin's code
      // sees the headers it is sent.
      const res = await fetch(url, {headers: needsToken ? this.app.api.headers() : {}, cache: 'no-store'});
      const elapsed = performance.now() - started;
      let text = await res.text();
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // not JSON: shown as it came
      }
      if (text.length > MAX_BODY_CHARS) text = `${text.slice(0, MAX_BODY_CHARS)}\n… (cut at ${MAX_BODY_CHARS} characters)`;
      out = [
        h('p', {dataset: {status: String(res.status)}},
          h('span', {class: `badge ${res.ok ? 'ok' : 'bad'}`}, `${res.status} ${res.statusText}`),
          ` GET ${url} · ${fmt.ms(elapsed)}`),
        h('pre', {dataset: {body: ''}}, text || '(empty body)'),
      ];
    } catch (err) {
      out = errorBox(new ApiError(0, 'network_error', `GET ${url} did not complete: ${err.message}`));
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
    this.tryResults.set(key, out);
    replace(result, out);
    this.loadHistory(); // the call is in the counters now
  }

  // The configuration editor: one field per key the manifest declares,
  // typed like its default, checked here and again by the server.
  config(p) {
    const defaults = p.metadata?.configuration ?? {};
    const current = p.configuration ?? {};
    const declared = Object.keys(defaults);
    const editable = this.app.can('configure');
    const fields = declared.length ? declared.sort().map((k) => configField(k, defaults[k], current[k], editable))
      : [configField('', {}, current, editable, true)];
    const error = h('div', {dataset: {configError: ''}});
    const form = h('form', {dataset: {config: ''}, novalidate: true,
      oninput: () => { this.configDirty = true; },
      onsubmit: (e) => {
        e.preventDefault();
        this.saveConfig(p, form, error, declared);
      }},
    h('fieldset', {disabled: !editable},
      h('legend', {class: 'visually-hidden'}, `Configuration of ${p.id}`),
      fields, error,
      editable ? h('div', {class: 'row-actions'},
        h('button', {type: 'submit', class: 'primary'}, 'Apply configuration'),
        h('button', {type: 'button', onclick: () => { this.configDirty = false; this.configShown = ''; this.update(); }}, 'Discard changes')) : null));
    return [
      declared.length ? h('p', {class: 'muted'}, 'Values are checked against the manifest\'s defaults and applied at once, without a reload.')
        : h('p', {class: 'muted'}, 'The manifest declares no configuration keys; any JSON object is passed to the plugin.'),
      editable ? null : h('p', {class: 'muted'}, `Your role (${this.app.me.role}) can read the configuration; an operator or admin can change it.`),
      form,
    ];
  }

  async saveConfig(p, form, error, declared) {
    replace(error);
    let values;
    let firstBad = null;
    if (declared.length) {
      values = {};
      for (const k of declared) {
        const input = form.elements.namedItem(`cfg-${k}`);
        const [value, problem] = readField(input, p.metadata.configuration[k]);
        setFieldError(input, problem);
        if (problem) firstBad ??= input;
        else values[k] = value;
      }
    } else {
      const input = form.elements.namedItem('cfg-');
      const [value, problem] = readField(input, {});
      setFieldError(input, problem);
      if (problem) firstBad = input;
      values = value;
    }
    if (firstBad) {
      firstBad.focus();
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await this.app.api.put(pluginPath(p.id, '/configuration'), values);
      this.configDirty = false;
      notify('ok', `Configuration of ${p.id} applied`, `${Object.keys(values).length} value(s) set.`);
      await this.app.refresh(p.id);
    } catch (err) {
      // Problems name "configuration.<key>": shown at the field.
      let placed = false;
      for (const prob of Array.isArray(err.details) ? err.details : []) {
        const key = (prob.field ?? '').replace(/^configuration\.?/, '');
        const input = form.elements.namedItem(`cfg-${declared.length ? key : ''}`);
        if (input) {
          setFieldError(input, prob.message);
          firstBad ??= input;
          placed = true;
        }
      }
      replace(error, errorBox(err));
      (firstBad ?? button).focus();
      if (!placed) notifyError(`Could not configure ${p.id}`, err);
    } finally {
      button.disabled = false;
    }
  }

  async loadEvents() {
    const id = this.id;
    try {
      const res = await this.app.api.get(`/api/plugins/events?since=0&plugin_id=${encodeURIComponent(id)}`);
      if (id !== this.id) return;
      const live = this.events;
      const seen = new Set(live.map((e) => e.id));
      this.events = [...live, ...res.events.filter((e) => e.type !== 'progress' && !seen.has(e.id)).reverse()].slice(0, MAX_EVENTS);
      this.renderEvents();
    } catch (err) {
      if (id === this.id) replace(this.body('events'), errorBox(err));
    }
  }

  // onEvent takes a live event about any plugin.
  onEvent(e) {
    if (!this.id || e.plugin_id !== this.id || e.type === 'progress') return;
    if (this.events.some((x) => x.id === e.id)) return;
    this.events.unshift(e);
    this.events.length = Math.min(this.events.length, MAX_EVENTS);
    this.renderEvents();
  }

  renderEvents() {
    const body = this.body('events');
    if (!body) return;
    replace(body, this.events.length
      ? h('ol', {class: 'events', reversed: true}, this.events.map((e) => h('li', {dataset: {eventType: e.type}},
        h('time', {datetime: e.time}, fmt.time(e.time)),
        h('span', null, h('span', {class: 'badge'}, e.type)),
        h('span', null, e.message, e.actor ? h('span', {class: 'muted'}, ` · ${e.actor}`) : null))))
      : h('p', {class: 'muted'}, 'No events yet.'));
  }

  // The traffic history is sampled by the server at a fixed interval; it is
  // read again each interval while this view is open.
  async loadHistory() {
    const id = this.id;
    clearTimeout(this.timer);
    let next = 5;
    try {
      const res = await this.app.api.get(pluginPath(id, '/metrics'));
      if (id !== this.id) return;
      this.history = res;
      next = res.interval_seconds || next;
      this.renderTraffic(this.app.plugins.get(id));
    } catch (err) {
      if (id !== this.id || err.status === 404) return;
    }
    if (id === this.id) this.timer = setTimeout(() => this.loadHistory(), next * 1000);
  }

  // renderTraffic shows the counters read with the samples: requests are
  // not events, so they are as fresh as the last sampling.
  renderTraffic(p) {
    const body = this.body('traffic');
    if (!body || !p) return;
    const st = this.history?.stats ?? p.stats ?? {};
    const samples = this.history?.samples ?? [];
    const span = samples.reduce((s, x) => s + x.seconds, 0);
    replace(body,
      h('dl', {class: 'facts'},
        h('dt', null, 'Requests'), h('dd', {dataset: {requests: String(st.requests ?? 0)}}, fmt.number(st.requests ?? 0)),
        h('dt', null, 'Errors'), h('dd', null, `${fmt.number(st.server_errors ?? 0)} server, ${fmt.number(st.client_errors ?? 0)} client`),
        h('dt', null, 'Error rate'), h('dd', null, fmt.percent(st.error_rate ?? 0)),
        h('dt', null, 'Panics'), h('dd', null, fmt.number(st.panics ?? 0))),
      h('div', {class: 'charts'},
        lineChart({caption: 'Requests per second', values: samples.map((s) => s.requests_per_second), spanSeconds: span, format: (v) => `${fmt.number(v)}/s`}),
        lineChart({caption: 'Latency, 95th percentile', values: samples.map((s) => s.latency_ms.p95), spanSeconds: span, format: fmt.ms, second: true})),
      st.endpoints?.length ? h('div', {class: 'table-wrap'}, h('table', null,
        h('caption', {class: 'visually-hidden'}, 'Requests and latency by endpoint, since the plugin was installed'),
        h('thead', null, h('tr', null, ['Endpoint', 'Requests', 'Errors', 'p50', 'p95', 'p99'].map((c, i) => h('th', {scope: 'col', class: i ? 'num' : null}, c)))),
        h('tbody', null, st.endpoints.map((e) => h('tr', null,
          h('td', null, h('code', null, `${e.method} ${e.route}`)),
          h('td', {class: 'num'}, fmt.number(e.requests)),
          h('td', {class: 'num'}, fmt.number(e.client_errors + e.server_errors)),
          h('td', {class: 'num'}, fmt.ms(e.latency_ms.p50)),
          h('td', {class: 'num'}, fmt.ms(e.latency_ms.p95)),
          h('td', {class: 'num'}, fmt.ms(e.latency_ms.p99))))))) : null);
  }
}

// kindOf names a configuration value's JSON kind, as the server does.
function kindOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'object';
  return typeof v; // string, number, boolean
}

// configField is the input for one key (or, with whole, for the whole
// object), typed like the default.
function configField(key, def, value, editable, whole = false) {
  const kind = whole ? 'object' : kindOf(def);
  const id = `cfg-${key || 'all'}`;
  const name = `cfg-${key}`;
  const errorId = `${id}-error`;
  const shown = value === undefined ? def : value;
  const label = whole ? 'Configuration (JSON object)' : key;
  const hint = whole ? null : h('span', {class: 'muted'}, ` (${kind}; default ${JSON.stringify(def)})`);
  let input;
  switch (kind) {
    case 'boolean':
      return h('div', {class: 'field checks'},
        h('label', null, h('input', {type: 'checkbox', id, name, checked: Boolean(shown), dataset: {kind}, 'aria-describedby': errorId}), key, hint),
        h('p', {id: errorId, class: 'field-error'}));
    case 'number':
      input = h('input', {type: 'number', step: 'any', id, name, value: String(shown ?? ''), dataset: {kind}, 'aria-describedby': errorId});
      break;
    case 'string':
      input = h('input', {type: 'text', id, name, value: shown ?? '', dataset: {kind}, spellcheck: 'false', 'aria-describedby': errorId});
      break;
    default:
      input = h('textarea', {id, name, rows: 4, dataset: {kind}, spellcheck: 'false', 'aria-describedby': errorId}, JSON.stringify(shown ?? null, null, 2));
  }
  return h('div', {class: 'field'}, h('label', {for: id}, label, hint), input, h('p', {id: errorId, class: 'field-error'}));
}

// readField reads an input as its kind: [value, problem].
function readField(input, def) {
  const kind = input.dataset.kind;
  const raw = input.value;
  switch (kind) {
    case 'boolean':
      return [input.checked, null];
    case 'string':
      return [raw, null];
    case 'number': {
      const n = Number(raw);
      return raw.trim() === '' || !Number.isFinite(n) ? [null, 'must be a number'] : [n, null];
    }
    default: {
      let v;
      try {
        v = JSON.parse(raw);
      } catch (err) {
        return [null, `must be JSON: ${err.message}`];
      }
      const want = kindOf(def);
      if (want !== 'null' && v !== null && kindOf(v) !== want) return [null, `must be a JSON ${want}, like the default`];
      return [v, null];
    }
  }
}

function setFieldError(input, problem) {
  const box = document.getElementById(input.getAttribute('aria-describedby'));
  if (problem) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
  if (box) box.textContent = problem ?? '';
}
