const { request, showError } = require('../../utils/request.js');
const { localTime } = require('../../utils/dates.js');

const KIND = { tts: '声音', emoji: '表情包', swap: '换脸' };
const STATUS = { queued: '排队中', running: '生成中', reviewing: '审核中', succeeded: '完成', failed: '失败', canceled: '已取消', deleted: '已删除', blocked: '已撤回' };

Page({
  data: { tasks: [], next: null, loading: false },
  onShow() { return this.load(true); },
  async load(reset) {
    if (this.data.loading) return;
    this.setData({ loading: true });
    try {
      const before = reset || !this.data.next ? '' : '&before=' + this.data.next;
      const page = await request({ path: '/api/v1/tasks?limit=20' + before });
      const rows = page.tasks.map((t) => Object.assign({}, t, { kindLabel: KIND[t.kind] || t.kind,
        statusLabel: STATUS[t.status] || t.status, when: localTime(t.created_at) }));
      this.setData({ tasks: reset ? rows : this.data.tasks.concat(rows), next: page.next, loading: false });
    } catch (error) { this.setData({ loading: false }); showError(error); }
  },
  onReachBottom() { if (this.data.next) return this.load(false); },
  open(e) {
    const task = this.data.tasks[e.currentTarget.dataset.index];
    if (!task || task.status !== 'succeeded') return;
    if (task.kind === 'tts') {
      if (!this.player) this.player = wx.createInnerAudioContext();
      this.player.src = task.audio_url;
      this.player.play();
    } else {
      wx.previewImage({ urls: [task.image_url] });
    }
  }
});
