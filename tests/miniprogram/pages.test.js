// The real mini-program pages and utils, run in a stub wx runtime against the real VoxMoji stack.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createRuntime } = require('./runtime.js');

const baseUrl = process.env.VOXMOJI_BASE_URL;
const files = { audio: process.env.VOXMOJI_AUDIO_FILE, photo: process.env.VOXMOJI_PHOTO_FILE };
const landscape = process.env.VOXMOJI_LANDSCAPE_FILE;
const runtime = (name) => createRuntime({ baseUrl, files, loginCode: 'mp-' + name + '-' + Date.now() });

test('log in, record, clone a voice, poll, get a playable URL', async () => {
  const rt = runtime('voice');
  const page = rt.loadPage('voice');
  await page.onLoad();
  assert.equal(await page.startRecord(), true);
  assert.equal(page.data.recording, true);
  assert.equal(rt.recorder.options.format, 'mp3');
  assert.equal(rt.recorder.options.sampleRate, 16000);
  assert.equal(rt.recorder.options.numberOfChannels, 1);
  page.stopRecord();
  assert.equal(page.data.recordPath, files.audio);
  page.onText({ detail: { value: '你好，这是小程序的测试。' } });
  await page.generate();
  assert.equal(page.data.error, '');
  assert.match(page.data.audioUrl, /\/media\/tts\/.+\.mp3\?md5=/);
  assert.ok(page.data.duration > 0.5);
  assert.match(page.data.similarity, /^音色接近度：(很像|有点像|不像)$/); // the calibrated band, not the raw cosine
  assert.equal(page.data.similarityNote, '这是内置合成音，不是你的声音');
  const audio = await fetch(page.data.audioUrl);
  assert.equal(audio.status, 200);
  assert.equal(rt.calls.audio.at(-1).src, page.data.audioUrl);
  assert.equal(rt.calls.audio.at(-1).plays, 1);
  assert.equal(rt.calls.login, 1);
  assert.ok(rt.calls.requests.some((r) => r.startsWith('UPLOAD /api/v1/tts')));

  assert.match(page.data.sentence, /^我是本人，我同意用我的声音生成语音。验证码[零一二三四五六七八九]{4}。今天是\d{4}年\d{1,2}月\d{1,2}日。$/);
  const read = page.data.sentence;
  const saved = await page.saveVoice();
  assert.ok(saved.voice_id);
  assert.equal(saved.consent.text, read); // the consent record: what was read
  assert.equal(saved.prompt_text, read);
  assert.notEqual(page.data.sentence, read); // the token is spent: a new sentence for a next recording
  assert.equal(page.data.voices.length, 1);
  page.onVoice({ detail: { value: 0 } });
  page.onPreset({ detail: { value: 4 } }); // 情绪·悲伤 -> instruct mode
  await page.generate();
  assert.match(page.data.audioUrl, /\.mp3\?/);
});

test('choose a photo, make a sticker, save and share it', async () => {
  const rt = runtime('emoji');
  const page = rt.loadPage('emoji');
  await page.onLoad();
  assert.ok(page.data.templates.some((t) => t.template_id === 'panda'));
  assert.equal(await page.choosePhoto(), true);
  await page.generate(); // the person's consent is not confirmed yet: nothing is sent
  assert.ok(rt.calls.toast.includes('请先确认照片中的人是你本人或已同意'));
  assert.ok(!rt.calls.requests.some((r) => r.startsWith('UPLOAD /api/v1/emoji')));
  page.onFaceConsent({ detail: { value: true } });
  page.onText({ detail: { value: '开心大笑' } });
  page.onStyle({ detail: { value: 3 } }); // 漫画风
  await page.generate();
  assert.equal(page.data.error, '');
  assert.match(page.data.imageUrl, /\/media\/sticker\/.+\.png\?md5=/);
  assert.equal((await fetch(page.data.imageUrl)).headers.get('content-type'), 'image/png');
  assert.equal(await page.saveToAlbum(), true);
  assert.equal(rt.calls.saved.length, 1);
  await page.share();
  assert.equal(rt.calls.shared.length, 1);

  // 举报: cancelling the reason sheet files nothing; choosing one files a report of this result
  rt.calls.actionSheetChoice = null;
  assert.equal(await page.report(), false);
  rt.calls.actionSheetChoice = 2; // 辱骂攻击
  assert.equal(await page.report(), true);
  assert.ok(rt.calls.actionSheets[1].includes('辱骂攻击'));
  assert.ok(rt.calls.toast.includes('已收到举报，我们会尽快处理'));
  assert.ok(rt.calls.requests.includes('POST /api/v1/reports'));

  // a template alone, animated
  const templatePage = rt.loadPage('emoji');
  await templatePage.onLoad();
  templatePage.onTemplate({ detail: { value: templatePage.data.templates.findIndex((t) => t.template_id === 'panda') } });
  templatePage.onAnimated({ detail: { value: true } });
  templatePage.onText({ detail: { value: '收到' } });
  await templatePage.generate();
  assert.match(templatePage.data.imageUrl, /\.gif\?/);
});

test('error codes become the right Chinese messages', async () => {
  const rt = createRuntime({ baseUrl, files: { audio: files.audio, photo: landscape }, loginCode: 'mp-errors-' + Date.now() });
  const page = rt.loadPage('emoji');
  await page.onLoad();
  await page.choosePhoto();
  page.onFaceConsent({ detail: { value: true } });
  await page.generate();
  assert.equal(page.data.error, '没有检测到人脸，换一张正脸照片试试');
  assert.ok(rt.calls.modal.includes('没有检测到人脸，换一张正脸照片试试'));

  const voice = rt.loadPage('voice');
  await voice.onLoad();
  voice.onText({ detail: { value: '好'.repeat(201) } });
  await voice.startRecord();
  voice.stopRecord();
  await voice.generate();
  assert.equal(voice.data.error, '文字太长了，请删减一些');
  assert.ok(rt.calls.toast.includes('文字太长了，请删减一些'));
});

test('an expired access token is renewed with the refresh token, without a new wx.login', async () => {
  const rt = runtime('refresh');
  const me = rt.loadPage('me');
  await me.onShow();
  assert.equal(rt.calls.login, 1);
  const firstRefresh = rt.storage.voxmoji_refresh;
  assert.ok(firstRefresh);
  rt.request.resetSession();
  rt.storage.voxmoji_token = 'expired.or.forged.token';
  await me.load();
  assert.equal(rt.calls.login, 1);
  assert.ok(rt.calls.requests.includes('POST /api/v1/auth/refresh'));
  assert.notEqual(rt.storage.voxmoji_refresh, firstRefresh); // single use: a new one was kept
  assert.equal(me.data.loggedIn, true);
});

test('a 401 with no usable refresh token triggers exactly one re-login', async () => {
  const rt = runtime('relogin');
  const me = rt.loadPage('me');
  await me.onShow();
  assert.equal(rt.calls.login, 1);
  assert.equal(me.data.loggedIn, true);
  rt.request.resetSession();
  rt.storage.voxmoji_token = 'expired.or.forged.token';
  rt.storage.voxmoji_refresh = 'a-used-or-unknown-refresh-token';
  await me.load();
  assert.equal(rt.calls.login, 2);
  assert.equal(me.data.loggedIn, true);
  assert.ok(me.data.entries.some((e) => e.kind === 'grant'));
});

test('every user-facing API error code has a Chinese message', () => {
  const { MESSAGES } = require('../../miniprogram/utils/errors.js');
  const codes = ['invalid_request', 'unauthorized', 'forbidden', 'not_found', 'payload_too_large', 'unsupported_media',
    'invalid_audio', 'audio_too_short', 'audio_too_long', 'invalid_image', 'no_face_detected', 'text_too_long',
    'content_rejected', 'insufficient_tokens', 'rate_limited', 'idempotency_conflict', 'engine_failed',
    'internal_error', 'engine_unavailable', 'wechat_unavailable', 'service_unavailable'];
  for (const code of codes) assert.match(MESSAGES[code], /[\u4e00-\u9fff]/, code);
  assert.equal(MESSAGES.insufficient_tokens, '余额不足，请充值后再试');
});

test('pages have their four files', () => {
  for (const name of ['index', 'voice', 'emoji', 'history', 'me', 'pack', 'talking', 'agreement']) {
    for (const ext of ['js', 'json', 'wxml', 'wxss']) {
      assert.ok(fs.existsSync(path.join(__dirname, '../../miniprogram/pages', name, 'index.' + ext)), name + '.' + ext);
    }
  }
});
