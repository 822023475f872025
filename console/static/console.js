// Audit console behaviour (no inline script: the CSP allows only this file).
(function () {
  'use strict';
  // Evidence timeline: place each tick by its offset (0..100) along the line.
  document.querySelectorAll('.timeline .tick').forEach(function (tick) {
    var offset = Number(tick.getAttribute('data-offset')) || 0;
    tick.style.left = Math.max(0, Math.min(100, offset)) + '%';
  });
  // Self-refreshing pages (the alert queue): reload unless the person is selecting or typing.
  var seconds = Number(document.body.getAttribute('data-refresh-seconds'));
  if (seconds > 0) {
    setInterval(function () {
      var busy = document.querySelector('input[type=checkbox]:checked') || (document.activeElement && /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName));
      if (!busy) window.location.reload();
    }, seconds * 1000);
  }
  // Checking a downloaded report: send the chosen file's bytes; show the verdict as text.
  var check = document.getElementById('report-check');
  if (check) {
    check.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var file = check.querySelector('input[type=file]').files[0];
      var out = document.getElementById('report-verdict');
      if (!file) { out.textContent = 'Choose a report file first.'; return; }
      out.textContent = 'Checking…';
      fetch(check.getAttribute('action'), {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': check.querySelector('input[name=_csrf]').value },
        body: file,
        credentials: 'same-origin',
      })
        .then(function (res) { return res.json(); })
        .then(function (v) {
          out.className = v.ok ? 'ok' : 'bad';
          out.textContent = v.ok ? 'Signature valid: ' + v.summary : 'NOT valid: ' + v.reason;
        })
        .catch(function () { out.className = 'bad'; out.textContent = 'The check could not be run.'; });
    });
  }
})();
