// confirm asks before a step that cannot be taken back, in a modal dialog
// (Escape or Cancel declines; the focus stays inside while it is open).
// With input, it also asks for a value and resolves to it; otherwise it
// resolves to true, or to null when declined.
//
// The answer is taken from the events a person causes, which arrive at
// once: the form's submission (which button), Escape's cancel event, Enter
// in the field. The dialog's close event is queued, and one from a dialog
// just declined can arrive after the next one has opened.

import {$} from './dom.js';

export function confirm({title, text, action, danger = true, input}) {
  const dialog = $('#confirm');
  const form = $('#confirm-form');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  const ok = $('#confirm-ok');
  ok.textContent = action;
  ok.className = danger ? 'danger' : 'primary';
  const field = $('#confirm-value');
  $('#confirm-input').hidden = !input;
  if (input) {
    $('#confirm-label').textContent = input.label;
    field.value = input.value ?? '';
    field.placeholder = input.placeholder ?? '';
  }
  return new Promise((resolve) => {
    const settle = (accepted) => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('cancel', onCancel);
      field.removeEventListener('keydown', onKey);
      resolve(!accepted ? null : input ? field.value.trim() : true);
    };
    const onSubmit = (e) => settle(e.submitter?.value === 'ok');
    const onCancel = () => settle(false);
    // Enter in the field means OK; the form's default button is Cancel.
    const onKey = (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      dialog.close('ok');
      settle(true);
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('cancel', onCancel);
    field.addEventListener('keydown', onKey);
    dialog.returnValue = '';
    dialog.showModal();
    (input ? field : $('#confirm-cancel')).focus();
  });
}
