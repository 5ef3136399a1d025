// What an operator can do to one plugin, each step that cannot be taken
// back confirmed first, and each outcome said: the result, or the API's
// precise error.

import {h} from './dom.js';
import {confirm} from './dialog.js';
import {notify, notifyError} from './notices.js';
import {pluginPath} from './api.js';

// ACTIONS are the plugin actions, in the order they are offered. "needs"
// is the API action whose permission the caller must have (from whoami).
const ACTIONS = [
  {name: 'enable', label: 'Enable', needs: 'enable', when: (p) => !p.enabled},
  {name: 'disable', label: 'Disable', needs: 'disable', when: (p) => p.enabled},
  {name: 'reload', label: 'Reload', needs: 'reload'},
  {name: 'update', label: 'Update', needs: 'update', when: (p) => p.source?.kind === 'git'},
  {name: 'unload', label: 'Unload', needs: 'unload'},
];

// actionButtons returns the buttons for what the caller may do to p.
export function actionButtons(app, p, place) {
  return ACTIONS.filter((a) => app.can(a.needs) && (!a.when || a.when(p))).map((a) =>
    h('button', {
      type: 'button',
      class: `small${a.name === 'unload' ? ' danger' : ''}`,
      // Enable and Disable share a key: after one, the focus moves to the other.
      dataset: {action: a.name, key: `${place}:${p.id}:${a.name === 'enable' || a.name === 'disable' ? 'toggle' : a.name}`},
      'aria-label': `${a.label} ${p.id}`,
      onclick: (e) => run(app, p, a.name, e.currentTarget),
    }, a.label));
}

// questions for the steps that need a confirmation.
const questions = {
  disable: (p) => ({title: `Disable ${p.id}?`, action: 'Disable',
    text: `Its endpoints answer 503 until it is enabled again. It stays loaded, with its configuration.${dependantsWarning(p)}`}),
  reload: (p) => ({title: `Reload ${p.id}?`, action: 'Reload', danger: false,
    text: `Its code is loaded again from its source (${p.source?.kind}) and swapped in. If the new code fails, the running version keeps serving.`}),
  update: (p) => ({title: `Update ${p.id}?`, action: 'Update', danger: false,
    text: `Another version of ${p.source?.location} is built and started beside the running one, and switched to only once it passes a health check.`,
    input: {label: 'Version (tag, branch or commit)', value: '', placeholder: p.source?.version || 'v1.1.0'}}),
  unload: (p) => ({title: `Unload ${p.id}?`, action: 'Unload',
    text: `Its endpoints stop answering (404), and its stored state and configuration are deleted. Installing it again starts afresh.${dependantsWarning(p)}`}),
};

// dependantsWarning names the plugins that depend on p, which a confirmed
// unload or disable leaves degraded (the server refuses it unless forced).
const dependantsWarning = (p) => p.dependants?.length
  ? ` ${p.dependants.join(', ')} ${p.dependants.length === 1 ? 'depends' : 'depend'} on it and will run degraded until it is back.`
  : '';

// forced is the query that makes the server go ahead with an unload or
// disable the operator confirmed knowing p's dependants.
const forced = (p) => (p.dependants?.length ? '?force=true' : '');

async function run(app, p, action, button) {
  let version;
  const ask = questions[action];
  if (ask) {
    const answer = await confirm(ask(p));
    if (answer == null || answer === '') return;
    if (action === 'update') version = answer;
  }
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    switch (action) {
      case 'unload':
        await app.api.del(pluginPath(p.id) + forced(p));
        app.forget(p.id);
        notify('ok', `Unloaded ${p.id}`);
        break;
      case 'update': {
        const info = await app.api.post(pluginPath(p.id, '/update'), {version});
        app.remember(info);
        notify('ok', `Updated ${p.id} to ${info.source?.version ?? version}`, `Now running ${info.version}${info.source?.pin ? ` at ${info.source.pin.slice(0, 12)}` : ''}.`);
        break;
      }
      default: {
        const info = await app.api.post(pluginPath(p.id, `/${action}`) + (action === 'disable' ? forced(p) : ''));
        app.remember(info);
        const done = {enable: 'Enabled', disable: 'Disabled', reload: 'Reloaded'}[action];
        notify('ok', `${done} ${p.id}`, action === 'reload' ? `Running ${info.version}.` : `State: ${info.state}.`);
      }
    }
  } catch (err) {
    notifyError(`Could not ${action} ${p.id}`, err);
  } finally {
    if (button.isConnected) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}
