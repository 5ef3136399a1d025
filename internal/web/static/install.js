// Installing a plugin: an archive, a repository or a path on the server,
// followed live through its steps (fetching, validating, building, loading)
// from the event stream.

import {h, $, replace} from './dom.js';
import * as fmt from './format.js';
import {ApiError} from './api.js';
import {errorBox} from './notices.js';

const STEPS = ['fetching', 'validating', 'building', 'loading'];
const UPLOADING = 'uploading';
// Progress events of operations not (yet) known to this page, kept so that
// an operation's first steps are not lost to the race with its 202 answer.
const MAX_PENDING = 20;

export class Installer {
  constructor(app) {
    this.app = app;
    this.file = null;
    this.run = null; // the install shown: {opId, steps: Map(name → step), upload: bool, finished}
    this.pending = new Map();

    const input = $('#upload-file');
    input.addEventListener('change', () => this.choose(input.files[0] ?? null));
    const zone = $('#drop-zone');
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      this.choose(e.dataTransfer.files[0] ?? null);
    });
    $('#install-upload').addEventListener('submit', (e) => {
      e.preventDefault();
      if (!this.file) {
        this.showSetup('Upload', 'No archive chosen.');
        replace($('#progress-result'), errorBox(new ApiError(0, '', 'Choose a .zip or .tar.gz archive first, or drop one on the box.')));
        input.focus();
        return;
      }
      const file = this.file;
      const fields = {checksum: $('#upload-checksum').value.trim(), signature: $('#upload-signature').value.trim()};
      this.start(`Upload of ${file.name} (${fmt.bytes(file.size)})`, true,
        (onProgress) => this.app.api.upload('/api/plugins/upload?async=true', file, fields, onProgress));
    });
    $('#install-git').addEventListener('submit', (e) => {
      e.preventDefault();
      const source = $('#git-url').value.trim();
      const version = $('#git-version').value.trim();
      const path = $('#git-path').value.trim();
      const checksum = $('#git-checksum').value.trim();
      const signature = $('#git-signature').value.trim();
      if (!source) {
        $('#git-url').focus();
        return;
      }
      this.start(`${source}${version ? ` @ ${version}` : ''}${path ? ` (${path})` : ''}`, false,
        () => this.app.api.post('/api/plugins/load?async=true', {source, version, path, checksum, signature}));
    });
    $('#install-local').addEventListener('submit', (e) => {
      e.preventDefault();
      const source = $('#local-path').value.trim();
      if (!source) {
        $('#local-path').focus();
        return;
      }
      this.start(source, false, () => this.app.api.post('/api/plugins/load?async=true', {source}));
    });
  }

  choose(file) {
    this.file = file;
    $('#upload-chosen').textContent = file ? `${file.name} (${fmt.bytes(file.size)})` : 'No file chosen';
  }

  showSetup(title, source) {
    $('#install-progress').hidden = false;
    $('#progress-title').textContent = title;
    $('#progress-source').textContent = source;
  }

  busy(on) {
    for (const b of document.querySelectorAll('#view-install form button[type="submit"]')) b.disabled = on;
  }

  // start runs one install: send(onProgress) makes the request, which
  // answers 202 with the operation.
  async start(source, upload, send) {
    const names = upload ? [UPLOADING, ...STEPS] : STEPS;
    this.run = {opId: null, upload, finished: false, steps: new Map(names.map((n) => [n, {name: n, state: 'waiting'}]))};
    this.showSetup('Installing', source);
    replace($('#progress-result'));
    this.busy(true);
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

  step(name, state, message) {
    const s = this.run?.steps.get(name);
    if (!s) return;
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
      if (e.type !== 'progress' && e.type !== 'loaded' && e.type !== 'error') return;
      if (!this.pending.has(opId)) {
        this.pending.set(opId, []);
        if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value);
      }
      this.pending.get(opId).push(e);
      return;
    }
    if (e.type === 'progress') this.step(e.details.step, e.details.state, e.details.message);
    // The server finishes an operation before its last event goes out.
    if (e.type === 'loaded' || e.type === 'error') this.sync();
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
    this.busy(false);
    if (op.state === 'failed') {
      const e = op.error ?? {message: 'the install failed'};
      this.fail(new ApiError(op.status ?? 0, e.code, e.message, e.details));
      return;
    }
    // A prebuilt file has nothing to build.
    for (const s of run.steps.values()) if (s.state === 'waiting') s.state = 'skipped';
    const p = op.result;
    if (p) this.app.remember(p);
    $('#progress-title').textContent = 'Installed';
    this.render();
    replace($('#progress-result'), h('div', {class: 'ok-box', dataset: {installed: p?.id ?? ''}},
      h('p', null, h('span', {class: 'badge ok'}, 'done'), ` Installed ${p?.name ?? ''} (`, h('code', null, p?.id ?? ''), `) version ${p?.version ?? ''}: ${p?.state ?? ''}.`),
      op.warnings?.length ? h('ul', null, op.warnings.map((w) => h('li', null, w))) : null,
      p ? h('p', null, h('a', {href: `#/plugins/${encodeURIComponent(p.id)}`}, `Open ${p.id}`)) : null));
  }

  fail(err) {
    if (this.run) this.run.finished = true;
    this.busy(false);
    $('#progress-title').textContent = 'Install failed';
    this.render();
    replace($('#progress-result'), errorBox(err));
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
    const bar = $('#progress-bar');
    bar.value = value;
    const current = steps.find((s) => s.state === 'running' || s.state === 'failed');
    bar.setAttribute('aria-valuetext', current ? `${current.name}: ${current.state}` : `${Math.round(value)}%`);
    const label = {waiting: 'waiting', running: 'in progress', done: 'done', failed: 'failed', skipped: 'skipped'};
    replace($('#progress-steps'), steps.map((s) => h('li', {dataset: {step: s.name, state: s.state}},
      `${s.name}: ${label[s.state] ?? s.state}`,
      s.name === UPLOADING && s.state === 'running' && run.uploaded != null ? ` (${Math.round(run.uploaded * 100)}%)` : '')));
  }
}
