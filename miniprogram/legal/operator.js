// Who runs this service: the operator edits these two lines (docs/legal.md). They fill the {{operator}} and
// {{contact}} placeholders of the 用户协议 and 隐私政策 (documents.js), in the mini-program and the H5 page.
(function (root) {
  var operator = {
    operator: '（运营者名称，请在 miniprogram/legal/operator.js 中填写）',
    contact: '（联系邮箱或电话，请在 miniprogram/legal/operator.js 中填写）'
  };
  if (typeof module !== 'undefined' && module.exports) module.exports = operator;
  else root.VoxOperator = operator;
})(this);
