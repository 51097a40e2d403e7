// Keyboard shortcuts for the review queue: J/K move, A approve, R reject (reason first), B toggle "block user".
(function () {
  'use strict';
  var items = Array.prototype.slice.call(document.querySelectorAll('#queue .item'));
  if (!items.length) return;
  var current = 0;
  function select(index) {
    items[current].classList.remove('current');
    current = Math.max(0, Math.min(items.length - 1, index));
    items[current].classList.add('current');
    items[current].scrollIntoView({ block: 'nearest' });
  }
  select(0);
  document.addEventListener('keydown', function (event) {
    var typing = /INPUT|TEXTAREA|SELECT/.test(event.target.tagName);
    if (event.key === 'Escape' && typing) { event.target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    var item = items[current];
    var key = event.key.toLowerCase();
    if (key === 'j') select(current + 1);
    else if (key === 'k') select(current - 1);
    else if (key === 'a') item.querySelector('form.approve').submit();
    else if (key === 'b') { var box = item.querySelector('input.block'); box.checked = !box.checked; }
    else if (key === 'r') {
      var reason = item.querySelector('input.reason');
      if (reason.value.trim()) item.querySelector('form.reject').submit();
      else reason.focus();
    } else return;
    event.preventDefault();
  });
  items.forEach(function (item, index) { item.addEventListener('click', function () { select(index); }); });
})();
