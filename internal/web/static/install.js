// Installing a plugin: an archive, a repository or a path on the server,
// followed live through its steps (fetching, validating, building, loading)
// from the event stream.

import {$, replace} from './dom.js';
import * as fmt from './format.js';
import {ApiError} from './api.js';
import {errorBox} from './notices.js';
import {OperationProgress} from './progress.js';

export class Installer {
  constructor(app) {
    this.app = app;
    this.file = null;
    this.progress = new OperationProgress(app, {
      card: $('#install-progress'), title: $('#progress-title'), source: $('#progress-source'),
      bar: $('#progress-bar'), steps: $('#progress-steps'), result: $('#progress-result'),
    }, {onBusy: (on) => this.busy(on)});

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
    this.progress.showSetup(title, source);
  }

  busy(on) {
    for (const b of document.querySelectorAll('#view-install form button[type="submit"]')) b.disabled = on;
  }

  // start runs one install: send(onProgress) makes the request, which
  // answers 202 with the operation.
  start(source, upload, send) {
    return this.progress.start(source, upload, send);
  }

  onEvent(e) {
    this.progress.onEvent(e);
  }

  sync() {
    return this.progress.sync();
  }
}
