const { request, showError } = require('../../utils/request.js');
const { waitForTask, fileToBase64 } = require('../../utils/tasks.js');
const { reportTask } = require('../../utils/report.js');
const { ensureScope, MICROPHONE } = require('../../utils/permission.js');
const { loadEmotions, emotionChoices } = require('../../utils/emotions.js');
const { loadOptions } = require('../../utils/options.js');
const { streamSpeech } = require('../../utils/stream.js');
const { describeSimilarity } = require('../../utils/similarity.js');

const SENTENCE = '今天天气真好，我想去公园散散步，顺便买一杯奶茶。';
const PRESETS = [
  { label: '不加指令', value: '' },
  { label: '方言·四川话', value: '用四川话说' },
  { label: '方言·粤语', value: '用粤语说' },
  { label: '情绪·开心', value: '开心地说' },
  { label: '情绪·悲伤', value: '悲伤地说' },
  { label: '情绪·生气', value: '生气地说' },
  { label: '语速·快一点', value: '说快一点' },
  { label: '语速·慢一点', value: '慢慢地说' }
];

Page({
  data: {
    sentence: SENTENCE, consentToken: '', presets: PRESETS, presetIndex: 0, instruct: '',
    recording: false, recordPath: '', recordSeconds: 0,
    voices: [], voiceIndex: -1,
    text: '', modes: [], modeLabels: [], modeIndex: 0, textMax: 0,
    emotions: [{ label: '自然', value: '' }], emotionIndex: 0,
    busy: false, progress: 0, audioUrl: '', taskId: '', duration: 0, engine: '', similarity: '', error: '',
    streaming: false, streamNote: ''
  },

  onLoad() {
    this.recorder = wx.getRecorderManager();
    this.recorder.onStop((res) => this.onRecorded(res));
    this.recorder.onError(() => { this.setData({ recording: false }); showError({ message: '录音失败，请检查麦克风权限' }); });
    return Promise.all([this.loadVoices(), this.loadConsent(), this.loadEmotions(), this.loadOptions()]);
  },

  async loadOptions() {
    try {
      const options = await loadOptions();
      this.setData({ modes: options.tts_modes.map((m) => m.id), modeLabels: options.tts_modes.map((m) => m.label),
        textMax: options.limits.tts_text });
    } catch (error) { showError(error); }
  },

  async loadEmotions() {
    try {
      this.setData({ emotions: emotionChoices(await loadEmotions(), '自然') });
    } catch (error) { showError(error); }
  },

  onEmotion(e) { this.setData({ emotionIndex: Number(e.detail.value) }); },

  // The sentence to read is the consent to cloning this voice (with today's date); the recording of it is the
  // reference audio and its exact transcript.
  async loadConsent() {
    try {
      const consent = await request({ path: '/api/v1/voices/consent' });
      this.setData({ sentence: consent.text, consentToken: consent.consent_token });
    } catch (error) { showError(error); }
  },

  async loadVoices() {
    try {
      const result = await request({ path: '/api/v1/voices' });
      this.setData({ voices: result.voices });
    } catch (error) { showError(error); }
  },

  // Privacy consent first (the privacy-popup component answers the base library), then the microphone.
  async startRecord() {
    if (wx.requirePrivacyAuthorize) {
      const agreed = await new Promise((resolve) => wx.requirePrivacyAuthorize({ success: () => resolve(true), fail: () => resolve(false) }));
      if (!agreed) { showError({ message: '需要同意隐私保护指引才能录音' }); return false; }
    }
    if (!(await ensureScope('scope.record', MICROPHONE))) return false;
    this.setData({ recording: true, recordPath: '' });
    this.recorder.start({ format: 'mp3', sampleRate: 16000, numberOfChannels: 1, encodeBitRate: 48000, duration: 30000 });
    return true;
  },

  stopRecord() { this.recorder.stop(); },

  onRecorded(res) {
    const seconds = (res.duration || 0) / 1000;
    if (seconds < 3) {
      this.setData({ recording: false });
      showError({ message: '录音太短了，请至少录 3 秒' });
      return;
    }
    this.setData({ recording: false, recordPath: res.tempFilePath, recordSeconds: Math.round(seconds), voiceIndex: -1 });
  },

  onText(e) { this.setData({ text: e.detail.value }); },
  onInstruct(e) { this.setData({ instruct: e.detail.value }); },
  onMode(e) { this.setData({ modeIndex: Number(e.detail.value) }); },
  onPreset(e) {
    const index = Number(e.detail.value);
    this.setData({ presetIndex: index, instruct: PRESETS[index].value, modeIndex: PRESETS[index].value ? 1 : this.data.modeIndex });
  },
  onVoice(e) { this.setData({ voiceIndex: Number(e.detail.value) }); },

  // The fields of a TTS request besides the voice.
  fields() {
    const mode = this.data.modes[this.data.modeIndex];
    const fields = { text: this.data.text.trim(), mode: mode };
    if (mode === 'instruct') fields.instruct = this.data.instruct.trim();
    const emotion = this.data.emotions[this.data.emotionIndex].value;
    if (emotion) fields.emotion = emotion;
    return fields;
  },

  // 边合成边播放: a saved voice's speech streamed and played while it is made.
  async speakNow() {
    const fields = this.fields();
    const voice = this.data.voices[this.data.voiceIndex];
    if (!fields.text) { showError({ message: '请先输入要说的文字' }); return false; }
    if (!voice) { showError({ message: '边说边听需要一个已保存的声音' }); return false; }
    const started = Date.now();
    this.setData({ streaming: true, streamNote: '正在合成…', error: '' });
    try {
      const heard = await streamSpeech(Object.assign({ voice_id: voice.voice_id }, fields), () => {
        this.setData({ streamNote: '已开始播放（' + (Date.now() - started) + ' 毫秒）' });
      });
      this.setData({ streaming: false, taskId: heard.taskId, streamNote: '播放完毕，共 ' + heard.seconds.toFixed(1) + ' 秒' });
      return heard;
    } catch (error) {
      this.setData({ streaming: false, streamNote: '', error: showError(error) });
      return false;
    }
  },

  async generate() {
    const fields = this.fields();
    if (!fields.text) { showError({ message: '请先输入要说的文字' }); return; }
    if (fields.mode === 'instruct' && !fields.instruct) { showError({ message: '请选择或输入一个指令，比如“用四川话说”' }); return; }
    const voice = this.data.voices[this.data.voiceIndex];
    if (!voice && !this.data.recordPath) { showError({ message: '请先录一段声音，或选择已保存的声音' }); return; }
    this.setData({ busy: true, progress: 0, audioUrl: '', error: '' });
    try {
      let task;
      if (voice) {
        task = await request({ path: '/api/v1/tts?wait=5', method: 'POST', idempotent: true,
          data: Object.assign({ voice_id: voice.voice_id }, fields) });
      } else {
        task = await request({ path: '/api/v1/tts?wait=5', idempotent: true, upload: { filePath: this.data.recordPath, name: 'prompt_audio',
          // recorded on this page by the user, reading the consent sentence: the speaker agreed
          formData: Object.assign({ prompt_text: this.data.sentence, prompt_audio_format: 'mp3', voice_consent: 'true' }, fields) } });
      }
      const done = await waitForTask(task, (progress) => this.setData({ progress: progress }));
      this.setData(describeSimilarity(done)); // the calibrated band, and whether it is the user's voice at all
      this.setData({ busy: false, progress: 100, audioUrl: done.audio_url, taskId: done.task_id, duration: done.duration,
                     engine: done.engine });
      this.play();
    } catch (error) {
      this.setData({ busy: false, error: showError(error) });
    }
  },

  report() { return reportTask(this.data.taskId); },

  play() {
    if (!this.data.audioUrl) return;
    if (!this.player) this.player = wx.createInnerAudioContext();
    this.player.src = this.data.audioUrl;
    this.player.play();
  },

  // Saves the recording once: afterwards the saved voice is the one chosen and the recording is let go (its
  // consent token is spent), so a second tap cannot save the same voice again.
  async saveVoice() {
    if (!this.data.recordPath) { showError({ message: '请先录一段声音' }); return; }
    if (this.saving) return;
    this.saving = true;
    try {
      // A short recording travels as base64 inside JSON (wx.request); generation uses wx.uploadFile.
      const result = await request({ path: '/api/v1/voices', method: 'POST', idempotent: true, data: {
        audio: fileToBase64(this.data.recordPath), audio_format: 'mp3', prompt_text: this.data.sentence,
        consent_token: this.data.consentToken, name: '我的声音 ' + (this.data.voices.length + 1) } });
      wx.showToast({ title: '已保存', icon: 'success' });
      this.setData({ recordPath: '', recordSeconds: 0 });
      await Promise.all([this.loadVoices(), this.loadConsent()]);
      this.setData({ voiceIndex: this.data.voices.findIndex((v) => v.voice_id === result.voice.voice_id) });
      return result.voice;
    } catch (error) { showError(error); } finally { this.saving = false; }
  },

  onShareAppMessage() {
    return { title: '用我的声音说一句话 · VoxMoji', path: '/pages/voice/index' };
  },

  onUnload() { if (this.player) this.player.destroy(); }
});
