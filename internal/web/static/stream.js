// The server's event stream, live.
//
// EventSource cannot send an Authorization header, so each connection
// starts by trading the token for a single-use ticket that goes in the URL.
// A single-use ticket also means EventSource's own reconnection (to the
// same URL) cannot work; this class closes a broken stream and connects
// again itself with a new ticket, resuming after the last event it saw.

// The event types the server sends. EventSource delivers a named event only
// to a listener for that name.
const TYPES = ['loaded', 'unloaded', 'reloaded', 'enabled', 'disabled', 'health_changed',
  'config_changed', 'error', 'progress', 'state_changed', 'plugin'];

const MAX_DELAY_MS = 15000;

export class EventStream {
  // onEvent gets each event; onStatus(state, text) is told "connecting",
  // "live" or "reconnecting"; onSync is called on every (re)connection and
  // when the server says events were missed, so the page reloads its state.
  constructor(api, {onEvent, onStatus, onSync}) {
    this.api = api;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onSync = onSync;
    this.source = null;
    this.timer = 0;
    this.failures = 0;
    this.connected = false; // it has been live at least once
    this.lastId = 0;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }

  async connect() {
    if (this.stopped) return;
    this.onStatus(this.connected ? 'reconnecting' : 'connecting', this.connected ? 'Reconnecting…' : 'Connecting…');
    let ticket;
    try {
      ticket = await this.api.post('/api/plugins/events/ticket');
    } catch (err) {
      if (err.status === 401) return; // signed out; the page asks for a token
      this.retry();
      return;
    }
    if (this.stopped) return;
    const url = ticket.url + (this.lastId ? `&last_event_id=${this.lastId}` : '');
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener('open', () => {
      const again = this.connected;
      this.connected = true;
      this.failures = 0;
      this.onStatus('live', again ? 'Live · reconnected' : 'Live');
      this.onSync();
    });
    const deliver = (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      this.lastId = Number(m.lastEventId) || e.id || this.lastId;
      this.onEvent(e);
    };
    for (const type of TYPES) source.addEventListener(type, deliver);
    source.addEventListener('reset', () => this.onSync());
    source.addEventListener('error', (e) => {
      // The server's own events of type "error" (a failed install, a
      // plugin's error) come to this listener too, as messages with data;
      // only a plain event means the connection failed.
      if (e instanceof MessageEvent) return;
      // A dropped or refused stream: the ticket is spent, so start over.
      source.close();
      if (this.source !== source) return;
      this.source = null;
      this.retry();
    });
  }

  retry() {
    if (this.stopped) return;
    this.failures++;
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(this.failures - 1, 4));
    const what = this.connected ? 'Disconnected' : 'Cannot connect';
    this.onStatus('reconnecting', `${what} · retrying in ${Math.round(delay / 1000)} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
