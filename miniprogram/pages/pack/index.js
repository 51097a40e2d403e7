// A sticker pack for WeChat's sticker platform: 8 stickers of one photo or template, one caption and emotion each;
// preview them, then copy the export link (the submission zip) to open on a computer.
const { request, showError } = require('../../utils/request.js');
const { waitForTask, fileToBase64 } = require('../../utils/tasks.js');
const { reportTask } = require('../../utils/report.js');
const { choosePhoto } = require('../../utils/media.js');
const { loadEmotions } = require('../../utils/emotions.js');
const { loadOptions } = require('../../utils/options.js');

Page({
  data: {
    photoPath: '', faceConsent: false, templates: [], templateIndex: -1, name: '我的表情', animated: true,
    items: [], limits: {}, linkHours: 0, busy: false, progress: 0, stickers: [], zipUrl: '', taskId: '', error: ''
  },

  onLoad() { return Promise.all([this.loadTemplates(), this.loadItems()]); },

  async loadTemplates() {
    try { this.setData({ templates: (await request({ path: '/api/v1/templates' })).templates }); } catch (error) { showError(error); }
  },

  // The server's default stickers, one emotion each, captioned with the emotion's name (each caption can be changed).
  async loadItems() {
    try {
      const [emotions, options] = await Promise.all([loadEmotions(), loadOptions()]);
      const items = options.pack_default_emotions.map((id) => emotions.find((e) => e.emotion === id)).filter(Boolean)
        .map((e, index) => ({ key: 'item-' + index, emotion: e.emotion, name: e.name, text: e.name }));
      this.setData({ items: items, limits: options.limits, linkHours: Math.round(options.limits.link_seconds / 360) / 10 });
    } catch (error) { showError(error); }
  },

  async choosePhoto() {
    const path = await choosePhoto();
    if (path) this.setData({ photoPath: path });
    return !!path;
  },

  onTemplate(e) { this.setData({ templateIndex: Number(e.detail.value) }); },
  onName(e) { this.setData({ name: e.detail.value }); },
  onAnimated(e) { this.setData({ animated: !!e.detail.value }); },
  onFaceConsent(e) { this.setData({ faceConsent: !!e.detail.value }); },
  onCaption(e) {
    const index = Number(e.currentTarget.dataset.index);
    this.setData({ ['items[' + index + '].text']: e.detail.value });
  },

  async generate() {
    const template = this.data.templates[this.data.templateIndex];
    if (!this.data.photoPath && !template) { showError({ message: '请先选一张照片或一个模板' }); return false; }
    if (this.data.photoPath && !this.data.faceConsent) { showError({ message: '请先确认照片中的人是你本人或已同意' }); return false; }
    const name = this.data.name.trim();
    if (!name || name.length > 8) { showError({ message: '表情名称 1–8 个字' }); return false; }
    const body = { name: name, animated: this.data.animated,
                   stickers: this.data.items.map((item) => ({ text: item.text.trim(), emotion: item.emotion })) };
    if (this.data.photoPath) Object.assign(body, { image: fileToBase64(this.data.photoPath), face_consent: true });
    else body.template_id = template.template_id;
    this.setData({ busy: true, progress: 0, stickers: [], zipUrl: '', error: '' });
    try {
      const task = await request({ path: '/api/v1/packs?wait=5', method: 'POST', idempotent: true, data: body });
      const done = await waitForTask(task, (progress) => this.setData({ progress: progress }));
      const stickers = done.result.stickers.map((s) => ({ key: s.part, url: done.result.parts[s.part], text: s.text }));
      this.setData({ busy: false, progress: 100, stickers: stickers, zipUrl: done.zip_url, taskId: done.task_id });
      return done;
    } catch (error) {
      this.setData({ busy: false, error: showError(error) });
      return false;
    }
  },

  preview(e) { wx.previewImage({ current: e.currentTarget.dataset.url, urls: this.data.stickers.map((s) => s.url) }); },

  // The export link: the zip for 微信表情开放平台, opened on a computer (it works options.limits.link_seconds).
  copyLink() {
    return new Promise((resolve) => wx.setClipboardData({
      data: this.data.zipUrl, success: () => { wx.showToast({ title: '导出链接已复制', icon: 'success' }); resolve(true); },
      fail: () => resolve(false)
    }));
  },

  report() { return reportTask(this.data.taskId); },

  onShareAppMessage() {
    const first = this.data.stickers[0];
    return { title: '我做了一套表情包 · VoxMoji', path: '/pages/pack/index', imageUrl: first ? first.url : undefined };
  },

  onShareTimeline() { return { title: '用一张照片做一整套表情包 · VoxMoji' }; }
});
