const { request, showError } = require('../../utils/request.js');
const { localTime } = require('../../utils/dates.js');
const { loadOptions, labels } = require('../../utils/options.js');

Page({
  data: { tasks: [], next: null, loading: false },
  onShow() { return this.load(true); },
  async load(reset) {
    if (this.data.loading) return;
    this.setData({ loading: true });
    try {
      const before = reset || !this.data.next ? '' : '&before=' + this.data.next;
      const [options, page] = await Promise.all([loadOptions(), request({ path: '/api/v1/tasks?limit=20' + before })]);
      const kinds = labels(options.kinds);
      const statuses = labels(options.statuses);
      const rows = page.tasks.map((t) => Object.assign({}, t, { kindLabel: kinds[t.kind] || t.kind,
        statusLabel: statuses[t.status] || t.status, when: localTime(t.created_at) }));
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
    } else if (task.kind === 'talking') {
      wx.previewMedia({ sources: [{ url: task.video_url, type: 'video' }] });
    } else if (task.kind === 'pack') { // a zip, not an image: its link is opened on a computer
      wx.setClipboardData({ data: task.zip_url });
    } else {
      wx.previewImage({ urls: [task.image_url] });
    }
  }
});
