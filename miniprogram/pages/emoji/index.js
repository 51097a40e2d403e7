const { request, showError } = require('../../utils/request.js');
const { waitForTask } = require('../../utils/tasks.js');
const { reportTask } = require('../../utils/report.js');
const { choosePhoto, downloadResult } = require('../../utils/media.js');
const { ensureScope, ALBUM } = require('../../utils/permission.js');

const { loadEmotions, emotionChoices } = require('../../utils/emotions.js');
const { loadOptions } = require('../../utils/options.js');

Page({
  data: {
    styles: [], styleIndex: 0, captionMax: 0, emotions: [{ label: '自动（按文字）', value: '' }], emotionIndex: 0,
    templates: [], templateIndex: -1, photoPath: '', faceConsent: false, text: '', animated: false,
    busy: false, progress: 0, imageUrl: '', taskId: '', error: ''
  },

  onLoad() { return Promise.all([this.loadTemplates(), this.loadEmotions(), this.loadOptions()]); },

  async loadOptions() {
    try {
      const options = await loadOptions();
      this.setData({ styles: options.styles.map((s) => ({ label: s.label, value: s.id })), captionMax: options.limits.caption });
    } catch (error) { showError(error); }
  },

  async loadEmotions() {
    try {
      this.setData({ emotions: emotionChoices(await loadEmotions(), '自动（按文字）') });
    } catch (error) { showError(error); }
  },

  async loadTemplates() {
    try {
      const result = await request({ path: '/api/v1/templates' });
      this.setData({ templates: result.templates });
    } catch (error) { showError(error); }
  },

  async choosePhoto() {
    const path = await choosePhoto();
    if (path) this.setData({ photoPath: path });
    return !!path;
  },

  onText(e) { this.setData({ text: e.detail.value }); },
  onStyle(e) { this.setData({ styleIndex: Number(e.detail.value) }); },
  onEmotion(e) { this.setData({ emotionIndex: Number(e.detail.value) }); },
  onTemplate(e) { this.setData({ templateIndex: Number(e.detail.value) }); },
  onAnimated(e) { this.setData({ animated: !!e.detail.value }); },
  onFaceConsent(e) { this.setData({ faceConsent: !!e.detail.value }); },

  fields() {
    const style = this.data.styles[this.data.styleIndex].value;
    const fields = { text: this.data.text.trim(), style: style, animated: this.data.animated };
    const emotion = this.data.emotions[this.data.emotionIndex].value;
    if (emotion) fields.emotion = emotion;
    const template = this.data.templates[this.data.templateIndex];
    if (template && (style === 'template' || !this.data.photoPath)) fields.template_id = template.template_id;
    return fields;
  },

  async generate() {
    const fields = this.fields();
    if (!this.data.photoPath && !fields.template_id) { showError({ message: '请先选一张照片或一个模板' }); return; }
    if (fields.text.length > this.data.captionMax) { showError({ message: '文字最多 ' + this.data.captionMax + ' 个字' }); return; }
    if (this.data.photoPath && !this.data.faceConsent) {
      showError({ message: '请先确认照片中的人是你本人或已同意' }); return;
    }
    this.setData({ busy: true, progress: 0, imageUrl: '', error: '' });
    try {
      const task = this.data.photoPath
        ? await request({ path: '/api/v1/emoji?wait=5', idempotent: true, upload: { filePath: this.data.photoPath, name: 'image',
            formData: Object.assign({}, fields, { animated: String(fields.animated), face_consent: 'true' }) } })
        : await request({ path: '/api/v1/emoji?wait=5', method: 'POST', idempotent: true, data: fields });
      const done = await waitForTask(task, (progress) => this.setData({ progress: progress }));
      this.setData({ busy: false, progress: 100, imageUrl: done.image_url, taskId: done.task_id });
    } catch (error) {
      this.setData({ busy: false, error: showError(error) });
    }
  },

  preview() { if (this.data.imageUrl) wx.previewImage({ urls: [this.data.imageUrl] }); },

  report() { return reportTask(this.data.taskId); },

  async saveToAlbum() {
    try {
      if (!(await ensureScope('scope.writePhotosAlbum', ALBUM))) return false;
      const path = await downloadResult(this.data.imageUrl);
      await new Promise((resolve, reject) => wx.saveImageToPhotosAlbum({ filePath: path, success: resolve,
        fail: () => reject(new Error('保存失败，请重试')) }));
      wx.showToast({ title: '已保存到相册', icon: 'success' });
      return true;
    } catch (error) { showError(error); return false; }
  },

  onShareAppMessage() {
    // A finished sticker is shared as the card's picture; otherwise the page itself.
    return { title: '一起来做表情包 · VoxMoji', path: '/pages/emoji/index', imageUrl: this.data.imageUrl || undefined };
  },

  onShareTimeline() {
    return { title: '用照片做表情包 · VoxMoji', imageUrl: this.data.imageUrl || undefined };
  },

  async share() {
    try {
      const path = await downloadResult(this.data.imageUrl);
      wx.showShareImageMenu({ path: path });
    } catch (error) { showError(error); }
  }
});
