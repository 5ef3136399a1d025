// A small line chart in SVG, with its numbers also in words for screen
// readers and for anyone who would rather read than look.

import {h, svg} from './dom.js';

const W = 300;
const H = 90;
const PAD = {left: 14, right: 6, top: 8, bottom: 14};

let charts = 0;

// lineChart draws values (numbers, oldest first, one per sample) over
// spanSeconds. format reads one value.
export function lineChart({caption, values, spanSeconds, format, second = false}) {
  const id = `chart-${++charts}`;
  const top = Math.max(...values, 0) || 1;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (values.length < 2 ? plotW : (i / (values.length - 1)) * plotW);
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const last = values.at(-1);
  const peak = Math.max(...values, 0);
  const summary = values.length
    ? `Now ${format(last ?? 0)}; peak ${format(peak)} over the last ${Math.round(spanSeconds / 60) || 1} min.`
    : 'No samples yet: the server samples traffic every few seconds.';
  return h('figure', {dataset: {chart: caption}},
    h('figcaption', null, caption),
    svg('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${id}-t`, 'aria-describedby': `${id}-d`},
      svg('title', {id: `${id}-t`}, caption),
      svg('desc', {id: `${id}-d`}, summary),
      svg('line', {class: 'axis', x1: PAD.left, y1: PAD.top + plotH, x2: W - PAD.right, y2: PAD.top + plotH}),
      svg('line', {class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + plotH}),
      svg('text', {x: PAD.left + 4, y: PAD.top + 8}, format(top)),
      svg('text', {x: PAD.left - 3, y: PAD.top + plotH, 'text-anchor': 'end'}, '0'),
      svg('text', {x: W - PAD.right, y: H - 2, 'text-anchor': 'end'}, 'now'),
      values.length ? svg('polyline', {class: `series${second ? ' second' : ''}`, points}) : null,
      // The latest sample is marked, so that a single one shows too.
      values.length ? svg('circle', {class: `dot${second ? ' second' : ''}`, cx: x(values.length - 1).toFixed(1), cy: y(last).toFixed(1), r: 2.5}) : null),
    h('p', {class: 'muted', dataset: {summary: ''}}, summary));
}
