const { request, showError } = require('../../utils/request.js');
const { localTime } = require('../../utils/dates.js');
const { loadOptions, labels } = require('../../utils/options.js');

// What a task's own text is, by kind: what was said, or a caption (swaps have none).
const SAID = { tts: '说：', talking: '说：', emoji: '配字：', pack: '表情：' };

// A thumbnail for the row: the image (stickers, swaps, a talking sticker's GIF) or a pack's first sticker.
function thumbnail(task) {
  if (task.image_url) return task.image_url;
  const parts = task.result && task.result.parts;
  if (task.kind === 'pack' && parts) return parts[Object.keys(parts).sort()[0]] || '';
  return '';
}

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
      this.linkHours = Math.round(options.limits.link_seconds / 360) / 10;
      const rows = page.tasks.map((t) => Object.assign({}, t, { kindLabel: kinds[t.kind] || t.kind,
        statusLabel: statuses[t.status] || t.status, when: localTime(t.created_at), said: SAID[t.kind] || '',
        thumb: t.status === 'succeeded' ? thumbnail(t) : '' }));
      this.setData({ tasks: reset ? rows : this.data.tasks.concat(rows), next: page.next, loading: false });
    } catch (error) { this.setData({ loading: false }); showError(error); }
  },
  onReachBottom() { if (this.data.next) return this.load(false); },
  // A finished task opened by its kind: speech plays, a talking sticker's video and a picture are previewed,
  // a pack's zip link is copied (it is opened on a computer).
  open(e) {
    const task = this.data.tasks[e.currentTarget.dataset.index];
    if (!task || task.status !== 'succeeded') return false;
    if (task.kind === 'tts') {
      if (!this.player) this.player = wx.createInnerAudioContext();
      this.player.src = task.audio_url;
      this.player.play();
    } else if (task.kind === 'talking') {
      wx.previewMedia({ sources: [{ url: task.video_url, type: 'video' }] });
    } else if (task.kind === 'pack') {
      wx.setClipboardData({ data: task.zip_url, success: () => wx.showToast({
        title: '压缩包链接已复制（' + this.linkHours + ' 小时内有效），请在电脑上打开', icon: 'none' }) });
    } else {
      wx.previewImage({ urls: [task.image_url] });
    }
    return task.kind;
  }
});
