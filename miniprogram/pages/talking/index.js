// A talking sticker: a photo or template says a sentence in a saved voice, the mouth moving with it
// (an MP4 with sound, and a silent GIF).
const { request, showError } = require('../../utils/request.js');
const { waitForTask, fileToBase64 } = require('../../utils/tasks.js');
const { reportTask } = require('../../utils/report.js');
const { choosePhoto, downloadResult } = require('../../utils/media.js');
const { loadEmotions, emotionChoices } = require('../../utils/emotions.js');
const { loadOptions } = require('../../utils/options.js');
const { ensureScope, ALBUM } = require('../../utils/permission.js');

Page({
  data: {
    voices: [], voiceIndex: -1, templates: [], templateIndex: -1, photoPath: '', faceConsent: false, text: '', textMax: 0,
    emotions: [{ label: '自动（按文字）', value: '' }], emotionIndex: 0,
    busy: false, progress: 0, videoUrl: '', gifUrl: '', duration: 0, taskId: '', error: '', playing: false
  },

  onLoad() { return Promise.all([this.loadVoices(), this.loadTemplates(), this.loadEmotions(), this.loadOptions()]); },

  async loadOptions() {
    try { this.setData({ textMax: (await loadOptions()).limits.talking_text }); } catch (error) { showError(error); }
  },

  async loadVoices() {
    try { this.setData({ voices: (await request({ path: '/api/v1/voices' })).voices }); } catch (error) { showError(error); }
  },
  async loadTemplates() {
    try { this.setData({ templates: (await request({ path: '/api/v1/templates' })).templates }); } catch (error) { showError(error); }
  },
  async loadEmotions() {
    try { this.setData({ emotions: emotionChoices(await loadEmotions(), '自动（按文字）') }); } catch (error) { showError(error); }
  },

  async choosePhoto() {
    const path = await choosePhoto();
    if (path) this.setData({ photoPath: path });
    return !!path;
  },

  onVoice(e) { this.setData({ voiceIndex: Number(e.detail.value) }); },
  onTemplate(e) { this.setData({ templateIndex: Number(e.detail.value) }); },
  onText(e) { this.setData({ text: e.detail.value }); },
  onEmotion(e) { this.setData({ emotionIndex: Number(e.detail.value) }); },
  onFaceConsent(e) { this.setData({ faceConsent: !!e.detail.value }); },

  async generate() {
    const voice = this.data.voices[this.data.voiceIndex];
    const template = this.data.templates[this.data.templateIndex];
    const text = this.data.text.trim();
    if (!voice) { showError({ message: '请先在「克隆声音」里保存一个声音，再选它' }); return false; }
    if (!text || text.length > 30) { showError({ message: '说的话 1–30 个字' }); return false; }
    if (!this.data.photoPath && !template) { showError({ message: '请先选一张照片或一个模板' }); return false; }
    if (this.data.photoPath && !this.data.faceConsent) { showError({ message: '请先确认照片中的人是你本人或已同意' }); return false; }
    const body = { text: text, voice_id: voice.voice_id };
    const emotion = this.data.emotions[this.data.emotionIndex].value;
    if (emotion) body.emotion = emotion;
    if (this.data.photoPath) Object.assign(body, { image: fileToBase64(this.data.photoPath), face_consent: true });
    else body.template_id = template.template_id;
    this.setData({ busy: true, progress: 0, videoUrl: '', gifUrl: '', error: '', playing: false });
    try {
      const task = await request({ path: '/api/v1/talking-stickers?wait=5', method: 'POST', idempotent: true, data: body });
      const done = await waitForTask(task, (progress) => this.setData({ progress: progress }));
      this.setData({ busy: false, progress: 100, videoUrl: done.video_url, gifUrl: done.image_url, duration: done.duration,
                     taskId: done.task_id });
      return done;
    } catch (error) {
      this.setData({ busy: false, error: showError(error) });
      return false;
    }
  },

  // The sticker plays from its button or a tap on it (the native controls are off: they cover the caption).
  togglePlay() {
    const video = wx.createVideoContext('talking-video', this);
    if (this.data.playing) video.pause(); else video.play();
  },
  onPlay() { this.setData({ playing: true }); },
  onPause() { this.setData({ playing: false }); },

  async saveVideo() {
    try {
      if (!(await ensureScope('scope.writePhotosAlbum', ALBUM))) return false;
      const path = await downloadResult(this.data.videoUrl);
      await new Promise((resolve, reject) => wx.saveVideoToPhotosAlbum({ filePath: path, success: resolve,
        fail: () => reject(new Error('保存失败，请重试')) }));
      wx.showToast({ title: '已保存到相册', icon: 'success' });
      return true;
    } catch (error) { showError(error); return false; }
  },

  // 发给朋友: the video itself into a chat.
  async share() {
    try {
      const path = await downloadResult(this.data.videoUrl);
      wx.shareVideoMessage({ videoPath: path, thumbPath: undefined });
      return path;
    } catch (error) { showError(error); return false; }
  },

  report() { return reportTask(this.data.taskId); },

  onShareAppMessage() {
    return { title: '会说话的表情包 · VoxMoji', path: '/pages/talking/index', imageUrl: this.data.gifUrl || undefined };
  },

  onShareTimeline() { return { title: '让照片用你的声音说话 · VoxMoji', imageUrl: this.data.gifUrl || undefined }; }
});
