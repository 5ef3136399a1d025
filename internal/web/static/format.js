// How numbers, sizes and times read on the page.

const numbers = new Intl.NumberFormat(undefined, {maximumFractionDigits: 2});

export function number(n) {
  return n == null || Number.isNaN(n) ? '—' : numbers.format(n);
}

export function percent(x) {
  if (x == null || Number.isNaN(x)) return '—';
  return `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;
}

export function bytes(n) {
  if (n == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${numbers.format(n)} ${units[i]}`;
}

export function ms(x) {
  if (x == null) return '—';
  return x < 1 ? `${x.toFixed(2)} ms` : `${numbers.format(x)} ms`;
}

// time is a clock time for events of today, else date and time.
export function time(t) {
  if (!t) return '—';
  const d = new Date(t);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

// seconds reads a duration given in seconds.
export function seconds(s) {
  if (s == null) return '—';
  if (s < 60) return `${numbers.format(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

// shortPin shortens a commit or digest for a table cell.
export function shortPin(pin) {
  if (!pin) return '';
  const bare = pin.replace(/^sha256:/, '');
  return bare.length > 12 ? bare.slice(0, 12) : bare;
}

// sourceText says where a plugin came from, in one line.
export function sourceText(src) {
  if (!src) return '';
  switch (src.kind) {
    case 'git': {
      const repo = src.location.replace(/^https?:\/\//, '');
      const path = src.path && src.path !== '.' ? `/${src.path}` : '';
      const version = src.version ? ` @ ${src.version}` : '';
      const pin = src.pin ? ` (${shortPin(src.pin)})` : '';
      return `${repo}${path}${version}${pin}`;
    }
    case 'upload':
      return `upload ${src.location}${src.pin ? ` (${shortPin(src.pin)})` : ''}`;
    default:
      return `${src.kind} ${src.location}`;
  }
}

// kubeRule says what one Kubernetes access rule allows: "verbs on
// group/resources in namespaces".
export function kubeRule(r) {
  const targets = (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).map((res) => (g ? `${g}/${res}` : res)));
  const names = r.resourceNames?.length ? ` named ${r.resourceNames.join(', ')}` : '';
  const where = r.namespaces?.length ? `in ${r.namespaces.join(', ')}` : 'in every namespace';
  return `${(r.verbs ?? []).join(', ')} on ${targets.join(', ')}${names} ${where}`;
}
