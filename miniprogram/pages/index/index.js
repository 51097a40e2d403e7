const { request, showError } = require('../../utils/request.js');

Page({
  data: { balance: null, loading: true },
  onShow() { return this.refresh(); },
  async refresh() {
    try {
      const me = await request({ path: '/api/v1/me' });
      this.setData({ balance: me.user.balance - me.user.held, loading: false });
    } catch (error) {
      this.setData({ loading: false });
      showError(error);
    }
  },
  goVoice() { wx.navigateTo({ url: '/pages/voice/index' }); },
  goEmoji() { wx.navigateTo({ url: '/pages/emoji/index' }); }
});
