// Results and errors, said where people look: a notice for the outcome of
// an action, and an error box that spells out everything the API said.

import {h, $} from './dom.js';

const SUCCESS_MS = 8000;
// At most this many notices at once, so that they never cover the page.
const MAX_NOTICES = 3;

// notify shows a notice. kind: "ok", "bad" or "" (information). Errors stay
// until dismissed; the others fade after a while.
export function notify(kind, title, body) {
  const box = h('div', {class: `notice ${kind}`, role: kind === 'bad' ? 'alert' : 'status', dataset: {kind}},
    h('div', {class: 'notice-head'},
      h('strong', null, title),
      h('button', {type: 'button', class: 'small', 'aria-label': `Dismiss: ${title}`, onclick: () => box.remove()}, '×')),
    body);
  const stack = $('#notices');
  stack.append(box);
  while (stack.children.length > MAX_NOTICES) stack.firstElementChild.remove();
  if (kind !== 'bad') setTimeout(() => box.remove(), SUCCESS_MS);
  return box;
}

// notifyError shows an API error as a notice.
export function notifyError(title, err) {
  return notify('bad', title, errorBox(err, {compact: true}));
}

// errorBox renders an API error: its message, then its details in the form
// they come in: field problems, build diagnostics and output, the policy
// rule or archive entry at fault, the role needed.
export function errorBox(err, {compact = false} = {}) {
  const d = err?.details;
  const parts = [h('p', {class: 'error-message'}, err?.message ?? String(err))];
  if (Array.isArray(d) && d.length) {
    parts.push(h('ul', {class: 'problems'}, d.map((p) => h('li', null,
      p.field ? [h('code', null, p.field), `: ${p.message}`] : p.message ?? JSON.stringify(p)))));
  } else if (d && typeof d === 'object') {
    if (Array.isArray(d.diagnostics) && d.diagnostics.length) {
      parts.push(h('p', null, 'The compiler said:'));
      parts.push(h('pre', {class: 'diagnostics'}, d.diagnostics.join('\n')));
    }
    if (d.output && !compact) {
      parts.push(h('details', null, h('summary', null, 'Full build output'), h('pre', null, d.output)));
    }
    const facts = [];
    const named = {rule: 'Rule', entry: 'Archive entry', field: 'Field', step: 'Step', required_role: 'Role needed',
      role: 'Your role', what: 'Mismatch', plugin: 'Plugin has', host: 'Server has'};
    for (const [k, label] of Object.entries(named)) {
      if (d[k] != null && d[k] !== '') facts.push(h('dt', null, label), h('dd', null, h('code', null, String(d[k]))));
    }
    if (facts.length) parts.push(h('dl', {class: 'facts'}, facts));
  }
  if (err?.code) parts.push(h('p', {class: 'error-code'}, `Error code: ${err.code}${err.status ? ` (HTTP ${err.status})` : ''}`));
  return h('div', {class: 'error-box', dataset: {code: err?.code ?? ''}}, parts);
}
