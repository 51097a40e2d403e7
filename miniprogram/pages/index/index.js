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
  onShareAppMessage() { return { title: 'VoxMoji：用你的声音说话，用你的脸做表情包', path: '/pages/index/index' }; },
  onShareTimeline() { return { title: 'VoxMoji：AI 声音与表情包' }; },
  goVoice() { wx.navigateTo({ url: '/pages/voice/index' }); },
  goEmoji() { wx.navigateTo({ url: '/pages/emoji/index' }); },
  goPack() { wx.navigateTo({ url: '/pages/pack/index' }); },
  goTalking() { wx.navigateTo({ url: '/pages/talking/index' }); }
});
