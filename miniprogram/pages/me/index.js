const { request, login, showError, resetSession } = require('../../utils/request.js');

const KINDS = { grant: '赠送', recharge: '充值', hold: '冻结', capture: '消费', release: '退回', adjust: '调整' };

Page({
  data: { user: null, entries: [], loggedIn: false },
  onShow() { return this.load(); },
  async load() {
    try {
      const me = await request({ path: '/api/v1/me' });
      const ledger = await request({ path: '/api/v1/me/ledger?limit=30' });
      const entries = ledger.entries.map((e) => Object.assign({}, e, { kindLabel: KINDS[e.kind] || e.kind }));
      this.setData({ user: me.user, entries: entries, loggedIn: true });
    } catch (error) { this.setData({ loggedIn: false }); showError(error); }
  },
  async relogin() {
    resetSession();
    wx.removeStorageSync('voxmoji_token');
    try { await login(); await this.load(); } catch (error) { showError(error); }
  }
});
