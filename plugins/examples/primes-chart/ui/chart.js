// Draws the plugin's series as a bar chart. The page runs in a sandbox
// with no network: it asks the manager page, through the bridge, to call
// this plugin's own endpoint GET /series with the signed-in user's rights.
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var status = document.getElementById('status');

  function draw(series) {
    var chart = document.getElementById('chart');
    var max = Math.max.apply(null, series.counts.concat([1]));
    var w = 400 / series.counts.length;
    series.counts.forEach(function (n, i) {
      var bar = document.createElementNS(SVG, 'rect');
      var hgt = 150 * n / max;
      bar.setAttribute('x', String(i * w + 2));
      bar.setAttribute('y', String(160 - hgt));
      bar.setAttribute('width', String(Math.max(w - 4, 1)));
      bar.setAttribute('height', String(hgt));
      var title = document.createElementNS(SVG, 'title');
      title.textContent = (i * series.block_size) + '–' + ((i + 1) * series.block_size - 1) + ': ' + n;
      bar.appendChild(title);
      chart.appendChild(bar);
    });
    document.getElementById('caption').textContent = series.total + ' primes below ' + series.limit +
      ', per block of ' + series.block_size + ': ' + series.counts.join(', ');
  }

  ksplugins.call('GET', '/series').then(function (res) {
    if (res.status !== 200) throw new Error('GET /series answered ' + res.status + ': ' + res.body);
    draw(JSON.parse(res.body));
    status.textContent = 'Computed by the plugin.';
  }).catch(function (err) {
    status.className = 'error';
    status.textContent = 'Could not read the series: ' + err.message;
  });

  ksplugins.context().then(function (ctx) {
    document.getElementById('who').textContent = 'Shown to ' + ctx.user.name + ' (' + ctx.user.role + ')';
  });
})();
