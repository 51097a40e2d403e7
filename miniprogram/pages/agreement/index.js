// 用户协议 / 隐私政策 (?doc=terms|privacy): the operator's template (legal/documents.js) with their name and
// contact (legal/operator.js) filled in.
const { filled } = require('../../legal/documents.js');
const operator = require('../../legal/operator.js');

Page({
  data: { doc: 'terms', title: '', paragraphs: [] },
  onLoad(query) {
    const document = filled((query && query.doc) || 'terms', operator);
    this.setData({ doc: document.name, title: document.title,
      paragraphs: document.paragraphs.map((text, n) => ({ n: n, text: text })) });
    if (wx.setNavigationBarTitle) wx.setNavigationBarTitle({ title: document.title });
  },
  other() {
    wx.redirectTo({ url: '/pages/agreement/index?doc=' + (this.data.doc === 'terms' ? 'privacy' : 'terms') });
  }
});
