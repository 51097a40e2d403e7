// 用户协议 / 隐私政策 (?doc=terms|privacy): the mini-program's own template (miniprogram/legal/documents.js) with
// the operator's name and contact (miniprogram/legal/operator.js), both served under /shared/legal/.
(function () {
  'use strict';
  var name = new URLSearchParams(location.search).get('doc') || 'terms';
  var doc = VoxLegal.filled(name, VoxOperator);
  var other = doc.name === 'terms' ? 'privacy' : 'terms';
  document.title = doc.title + ' · VoxMoji';
  document.getElementById('legal-title').textContent = doc.title;
  var text = document.getElementById('legal-text');
  doc.paragraphs.forEach(function (paragraph) {
    var p = document.createElement('p');
    p.textContent = paragraph;
    text.appendChild(p);
  });
  var link = document.getElementById('legal-other');
  link.href = '/legal.html?doc=' + other;
  link.textContent = VoxLegal.DOCUMENTS[other].title;
  document.body.dataset.ready = 'yes';
})();
