// The card above the plugin list: how many primes the plugin found.
(function () {
  'use strict';
  ksplugins.call('GET', '/series').then(function (res) {
    var s = JSON.parse(res.body);
    document.getElementById('total').textContent = String(s.total);
    document.getElementById('of').textContent = 'primes below ' + s.limit;
  }, function (err) {
    document.getElementById('total').textContent = '?';
    document.getElementById('of').textContent = 'refused: ' + err.code;
  });
})();
