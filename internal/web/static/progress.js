// Following an install or update live: its operation's steps (fetching,
// validating, building, loading) from the event stream, a progress bar, and
// the outcome. The install view and the catalog each show one.

import {h, replace} from './dom.js';
import {ApiError} from './api.js';
import {errorBox} from './notices.js';

export const STEPS = ['fetching', 'validating', 'building', 'loading'];
export const UPLOADING = 'uploading';
// Progress events of operations not (yet) known to this display, kept so
// that an operation's first steps are not lost to the race with its 202
// answer.
const MAX_PENDING = 20;
// The events that end an operation: an install's, an update's, a failure.
const ENDS = new Set(['loaded', 'reloaded', 'error']);

// WORDS are what a display says of an install and of an update.
const WORDS = {
  install: {running: 'Installing', done: 'Installed', failed: 'Install failed', fallback: 'the install failed'},
  update: {running: 'Updating', done: 'Updated', failed: 'Update failed', fallback: 'the update failed'},
};

export class OperationProgress {
  // els are the display's elements: card, title, source, bar, steps,
  // result. onBusy(on) is told when an operation starts and ends.
  constructor(app, els, {onBusy} = {}) {
    this.app = app;
    this.els = els;
    this.onBusy = onBusy ?? (() => {});
    this.run = null; // the operation shown: {opId, kind, steps: Map(name → step), upload: bool, finished}
    this.pending = new Map();
  }

  showSetup(title, source) {
    this.els.card.hidden = false;
    this.els.title.textContent = title;
    this.els.source.textContent = source;
  }

  // start runs one operation: send(onProgress) makes the request, which
  // answers 202 with the operation. kind is "install" or "update".
  async start(source, upload, send, kind = 'install') {
    const names = upload ? [UPLOADING, ...STEPS] : STEPS;
    this.run = {opId: null, kind, upload, finished: false, steps: new Map(names.map((n) => [n, {name: n, state: 'waiting'}]))};
    this.showSetup(WORDS[kind].running, source);
    replace(this.els.result);
    this.onBusy(true);
    this.render();
    const run = this.run;
    try {
      if (upload) this.step(UPLOADING, 'running');
      const op = await send((fraction) => {
        run.uploaded = fraction;
        this.render();
      });
      if (run !== this.run) return;
      if (upload) this.step(UPLOADING, 'done');
      run.opId = op.id;
      this.apply(op);
      for (const e of this.pending.get(op.id) ?? []) this.onEvent(e);
      this.pending.delete(op.id);
      if (!run.finished) await this.sync();
    } catch (err) {
      if (run !== this.run) return;
      for (const s of run.steps.values()) if (s.state === 'running') s.state = 'failed';
      this.fail(err);
    }
  }

  // step sets a step's state; a step the display did not expect is added.
  step(name, state, message) {
    if (!this.run) return;
    let s = this.run.steps.get(name);
    if (!s) {
      s = {name, state: 'waiting'};
      this.run.steps.set(name, s);
    }
    s.state = state;
    if (message !== undefined) s.message = message;
    this.render();
  }

  // apply takes the steps of an operation as the API reports it.
  apply(op) {
    for (const s of op.steps ?? []) this.step(s.name, s.state, s.message);
    if (op.state && op.state !== 'running') this.done(op);
  }

  // onEvent follows progress events, and notices the operation's end.
  onEvent(e) {
    const opId = e.details?.operation_id;
    if (!opId) return;
    if (!this.run || this.run.opId !== opId) {
      if (e.type !== 'progress' && !ENDS.has(e.type)) return;
      if (!this.pending.has(opId)) {
        this.pending.set(opId, []);
        if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value);
      }
      this.pending.get(opId).push(e);
      return;
    }
    if (e.type === 'progress') this.step(e.details.step, e.details.state, e.details.message);
    // The server finishes an operation before its last event goes out.
    if (ENDS.has(e.type)) this.sync();
  }

  // sync reads the operation, as after a reconnection or its last event.
  async sync() {
    const run = this.run;
    if (!run?.opId || run.finished) return;
    try {
      const op = await this.app.api.get(`/api/plugins/operations/${encodeURIComponent(run.opId)}`);
      if (run === this.run) this.apply(op);
    } catch (err) {
      if (run === this.run) this.fail(err);
    }
  }

  done(op) {
    const run = this.run;
    if (run.finished) return;
    run.finished = true;
    this.onBusy(false);
    const words = WORDS[run.kind];
    if (op.state === 'failed') {
      const e = op.error ?? {message: words.fallback};
      this.fail(new ApiError(op.status ?? 0, e.code, e.message, e.details));
      return;
    }
    // A prebuilt file has nothing to build.
    for (const s of run.steps.values()) if (s.state === 'waiting') s.state = 'skipped';
    const p = op.result;
    if (p) this.app.remember(p);
    this.els.title.textContent = words.done;
    this.render();
    replace(this.els.result, h('div', {class: 'ok-box', dataset: {installed: p?.id ?? '', version: p?.version ?? ''}},
      h('p', null, h('span', {class: 'badge ok'}, 'done'), ` ${words.done} ${p?.name ?? ''} (`, h('code', null, p?.id ?? ''), `) version ${p?.version ?? ''}: ${p?.state ?? ''}.`),
      op.warnings?.length ? h('ul', null, op.warnings.map((w) => h('li', null, w))) : null,
      p ? h('p', null, h('a', {href: `#/plugins/${encodeURIComponent(p.id)}`}, `Open ${p.id}`)) : null));
  }

  fail(err) {
    if (this.run) this.run.finished = true;
    this.onBusy(false);
    this.els.title.textContent = WORDS[this.run?.kind ?? 'install'].failed;
    this.render();
    replace(this.els.result, errorBox(err));
  }

  render() {
    const run = this.run;
    if (!run) return;
    const steps = [...run.steps.values()];
    const done = steps.filter((s) => s.state === 'done').length;
    // An upload's transfer is its first step, measured as it goes.
    const partial = run.upload && run.steps.get(UPLOADING).state === 'running' ? (run.uploaded ?? 0) : 0;
    let value = ((done + partial) / steps.length) * 100;
    if (run.finished && !steps.some((s) => s.state === 'failed')) value = 100;
    const bar = this.els.bar;
    bar.value = value;
    const current = steps.find((s) => s.state === 'running' || s.state === 'failed');
    bar.setAttribute('aria-valuetext', current ? `${current.name}: ${current.state}` : `${Math.round(value)}%`);
    const label = {waiting: 'waiting', running: 'in progress', done: 'done', failed: 'failed', skipped: 'skipped'};
    replace(this.els.steps, steps.map((s) => h('li', {dataset: {step: s.name, state: s.state}},
      `${s.name}: ${label[s.state] ?? s.state}`,
      s.name === UPLOADING && s.state === 'running' && run.uploaded != null ? ` (${Math.round(run.uploaded * 100)}%)` : '')));
  }
}

// progressCard makes the elements of a display, for a view that has none
// in the page's markup; the heading's id is given, for the card's label.
export function progressCard(titleId) {
  const title = h('h2', {id: titleId}, 'Install');
  const els = {
    title,
    source: h('p', {class: 'muted'}),
    bar: h('progress', {max: 100, value: 0, 'aria-labelledby': titleId}),
    steps: h('ol', {class: 'steps'}),
    result: h('div', {'aria-live': 'polite'}),
  };
  els.card = h('section', {class: 'card progress-card', 'aria-labelledby': titleId, dataset: {progress: ''}, hidden: true},
    title, els.source, els.bar, els.steps, els.result);
  return els;
}
