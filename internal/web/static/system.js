// The system view: totals, the security mode and policy (editable by an
// admin), and the build cache with its purge.

import {h, $, replace} from './dom.js';
import * as fmt from './format.js';
import {confirm} from './dialog.js';
import {errorBox, notify, notifyError} from './notices.js';

// Refreshing the totals on every event of a busy server would be wasteful;
// events within this window are taken together.
const REFRESH_MS = 500;

// While the warm-up runs, the view asks for its state this often as well as
// on its events: an event sent before the page's stream was connected, or an
// answer overtaken by an older one, would otherwise leave it saying running.
const WARM_UP_POLL_MS = 1000;

export class SystemView {
  constructor(app) {
    this.app = app;
    this.open = false;
    this.dirty = false;
    this.form = $('#policy-form');
    this.form.addEventListener('input', () => { this.dirty = true; });
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
    $('#cache-purge').addEventListener('click', () => this.purge());
    $('#policy-discard').addEventListener('click', () => {
      this.dirty = false;
      this.loadPolicy();
    });
  }

  show() {
    this.open = true;
    const editable = this.app.can('configure-system');
    $('#policy-fields').disabled = !editable;
    $('#policy-note').textContent = editable
      ? 'Changes apply at once to every later install and check, and are kept across restarts.'
      : `Your role (${this.app.me.role}) can read the policy; an admin can change it.`;
    this.loadTotals();
    this.loadCache();
    this.loadWarmUp();
    if (!this.dirty) {
      this.form.dataset.loaded = 'false';
      this.loadPolicy();
    }
  }

  hide() {
    this.open = false;
    clearTimeout(this.warmUpPoll);
  }

  onEvent(e) {
    if (!this.open) return;
    clearTimeout(this.refresh);
    this.refresh = setTimeout(() => {
      this.loadTotals();
      if (e.type === 'loaded' || e.type === 'unloaded' || e.type === 'reloaded') this.loadCache();
    }, REFRESH_MS);
    if (e.type === 'config_changed' && !e.plugin_id && !this.dirty) this.loadPolicy();
    if (e.details?.kind === 'warm-up') this.loadWarmUp();
  }

  async loadTotals() {
    const box = $('#system-totals');
    try {
      const m = await this.app.api.get('/api/plugins/system/metrics');
      const byState = Object.entries(m.plugins.by_state).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(', ') || 'none';
      const byHealth = Object.entries(m.plugins.by_health).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(', ') || 'none';
      const rows = [
        ['Plugins', `${m.plugins.total}`, 'plugins'], ['By state', byState], ['By health', byHealth],
        ['Requests', fmt.number(m.requests_total)],
        ['Errors', `${fmt.number(m.server_errors_total)} server, ${fmt.number(m.client_errors_total)} client`],
        ['Uptime', fmt.seconds(m.process.uptime_seconds)], ['Goroutines', fmt.number(m.process.goroutines)],
        ['Heap', fmt.bytes(m.process.heap_alloc_bytes)], ['Go', m.process.go_version],
      ];
      replace(box, rows.flatMap(([k, v, key]) => [h('dt', null, k), h('dd', {dataset: key ? {total: key} : {}}, v)]));
    } catch (err) {
      replace(box, errorBox(err));
    }
  }

  async loadCache() {
    const box = $('#cache-info');
    try {
      const info = await this.app.api.get('/api/plugins/cache/info');
      const c = info.cache;
      replace(box,
        h('dt', null, 'Size'), h('dd', {dataset: {cacheBytes: String(c.bytes)}}, `${fmt.bytes(c.bytes)} of ${fmt.bytes(info.max_bytes)}`),
        h('dt', null, 'Entries'), h('dd', null, fmt.number(c.entries)),
        h('dt', null, 'Builds'), h('dd', null, `${fmt.number(c.stats.builds)} (${fmt.number(c.stats.failures)} failed)`),
        h('dt', null, 'Cache hits'), h('dd', null, fmt.number(c.stats.hits)),
        h('dt', null, 'Tampered entries found'), h('dd', null, fmt.number(c.stats.tampered)));
    } catch (err) {
      replace(box, errorBox(err));
    }
    $('#cache-purge').hidden = !this.app.can('cache-purge');
  }

  // loadWarmUp says how far the server is in readying the sandboxed tier
  // after its start (GET /api/plugins/system/warm-up).
  async loadWarmUp() {
    const box = $('#warm-up');
    const asked = this.warmUpAsked = (this.warmUpAsked ?? 0) + 1;
    clearTimeout(this.warmUpPoll);
    let w;
    try {
      w = await this.app.api.get('/api/plugins/system/warm-up');
    } catch (err) {
      if (asked === this.warmUpAsked) replace(box, errorBox(err));
      return;
    }
    // Only the latest question's answer is shown: an earlier one may arrive last.
    if (asked !== this.warmUpAsked) return;
    if (this.open && (w.state === 'running' || w.state === 'waiting')) {
      this.warmUpPoll = setTimeout(() => this.loadWarmUp(), WARM_UP_POLL_MS);
    }
    const op = w.operation;
    const step = op?.steps[op.steps.length - 1];
    const took = op ? (Date.parse(op.finished_at ?? new Date().toISOString()) - Date.parse(op.created_at)) / 1000 : 0;
    const texts = {
      off: 'Not warmed up by this server: the first sandboxed install compiles what it needs.',
      waiting: 'Will warm up once the stored plugins are back.',
      running: `Warming up for ${fmt.seconds(Math.round(took))}: ${step?.message ?? 'starting'}.`,
      succeeded: `Ready: warmed up in ${fmt.seconds(Math.round(took))} after the server started.`,
      failed: `Warm-up failed: ${op?.error?.message ?? step?.message ?? 'no reason given'}. The first sandboxed install compiles what it needs.`,
    };
    box.dataset.state = w.state;
    box.textContent = texts[w.state] ?? w.state;
  }

  async purge() {
    const ok = await confirm({title: 'Purge the build cache?', action: 'Purge',
      text: 'Every build that no installed plugin needs is deleted. Installing one of those plugins again builds it again.'});
    if (!ok) return;
    try {
      const res = await this.app.api.del('/api/plugins/cache');
      notify('ok', 'Build cache purged', `${res.removed} entr${res.removed === 1 ? 'y' : 'ies'} removed, ${fmt.bytes(res.freed_bytes)} freed.`);
    } catch (err) {
      notifyError('Could not purge the build cache', err);
    }
    this.loadCache();
  }

  async loadPolicy() {
    try {
      const sys = await this.app.api.get('/api/plugins/system/configuration');
      // Someone typing while it loaded keeps what they typed.
      if (this.dirty) return;
      for (const el of this.form.elements) {
        if (!el.name) continue;
        const v = el.name.split('.').reduce((o, k) => o?.[k], sys);
        if (el.type === 'checkbox') el.checked = Boolean(v);
        else if (el.dataset.kind === 'lines') el.value = (v ?? []).join('\n');
        else el.value = v ?? '';
      }
      this.clearErrors();
      this.form.dataset.loaded = 'true';
    } catch (err) {
      replace($('#policy-error'), errorBox(err));
    }
  }

  clearErrors() {
    for (const el of this.form.elements) {
      el.removeAttribute('aria-invalid');
      const box = el.name && document.getElementById(`p-${el.name}-error`);
      if (box) box.textContent = '';
    }
    replace($('#policy-error'));
  }

  // read turns the form into the JSON the API merges into the live
  // configuration: only the fields shown here are sent.
  read() {
    const out = {};
    for (const el of this.form.elements) {
      if (!el.name) continue;
      let v;
      if (el.type === 'checkbox') v = el.checked;
      else if (el.dataset.kind === 'lines') v = el.value.split('\n').map((s) => s.trim()).filter(Boolean);
      else if (el.type === 'number') v = el.value.trim() === '' ? null : Number(el.value);
      else v = el.value.trim();
      const path = el.name.split('.');
      let o = out;
      for (const k of path.slice(0, -1)) o = (o[k] ??= {});
      o[path.at(-1)] = v;
    }
    return out;
  }

  async save() {
    this.clearErrors();
    const button = $('#policy-save');
    button.disabled = true;
    try {
      await this.app.api.put('/api/plugins/system/configuration', this.read());
      this.dirty = false;
      this.form.dataset.loaded = 'false';
      notify('ok', 'Policy saved', 'It applies to every later install and health check.');
      this.loadPolicy();
    } catch (err) {
      // Problems name fields such as "allowed_repos[0]" or "health.interval_seconds".
      let first = null;
      for (const p of Array.isArray(err.details) ? err.details : []) {
        const name = (p.field ?? '').replace(/\[\d+\]/g, '');
        const el = name && this.form.elements.namedItem(name);
        const box = name && document.getElementById(`p-${name}-error`);
        if (el && box) {
          el.setAttribute('aria-invalid', 'true');
          box.textContent = p.message;
          first ??= el;
        }
      }
      replace($('#policy-error'), errorBox(err));
      (first ?? button).focus();
    } finally {
      button.disabled = false;
    }
  }
}
