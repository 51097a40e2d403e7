// The mini-program as WeChat renders it: WXML and components through WeChat's own component test framework
// (miniprogram-simulate / j-component, on jsdom), pages driven against the real VoxMoji stack (network calls go
// through runtime.js's wx, which the framework does not provide).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { JSDOM } = require('jsdom');

const dom = new JSDOM('<!doctype html><html><body></body></html>');
for (const name of ['window', 'document', 'Node', 'HTMLElement', 'Element', 'Event', 'CustomEvent', 'navigator']) {
  Object.defineProperty(global, name, { value: name === 'window' ? dom.window : dom.window[name], configurable: true, writable: true });
}
const simulate = require('miniprogram-simulate');
const { createRuntime } = require('./runtime.js');

const ROOT = path.resolve(__dirname, '../../miniprogram');
const POPUP = path.join(ROOT, 'components', 'privacy-popup', 'index');
const baseUrl = process.env.VOXMOJI_BASE_URL;
const files = { audio: process.env.VOXMOJI_AUDIO_FILE, photo: process.env.VOXMOJI_PHOTO_FILE };

// The base library's privacy API as it behaves: a gated call (requirePrivacyAuthorize, chooseMedia, recording)
// asks the registered onNeedPrivacyAuthorization handler and goes on only if the user agrees through the
// agree-btn of the pop-up.
function privacyRuntime(rt) {
  const privacy = { handler: null, answers: [], contracts: 0 };
  wx.onNeedPrivacyAuthorization = (handler) => { privacy.handler = handler; };
  wx.getPrivacySetting = (options) => options.success({ needAuthorization: true, privacyContractName: '《VoxMoji 用户隐私保护指引》' });
  wx.openPrivacyContract = () => { privacy.contracts += 1; };
  wx.requirePrivacyAuthorize = ({ success, fail }) => privacy.handler((answer) => {
    privacy.answers.push(answer);
    if (answer.event === 'agree' && answer.buttonId === 'agree-btn') success(); else fail({ errMsg: 'requirePrivacyAuthorize:fail' });
  }, { referrer: 'startRecord' });
  return privacy;
}

// A page rendered by the framework: its WXML, its components, its Page() definition's data and methods.
function renderPage(name) {
  require(path.join(ROOT, 'pages', name, 'index.js'));
  const definition = global.__lastPage;
  const json = JSON.parse(fs.readFileSync(path.join(ROOT, 'pages', name, 'index.json'), 'utf8'));
  const usingComponents = {};
  for (const [tag, where] of Object.entries(json.usingComponents || {})) usingComponents[tag] = simulate.load(path.join(ROOT, where));
  const methods = {};
  for (const [key, value] of Object.entries(definition)) if (typeof value === 'function') methods[key] = value;
  const id = simulate.load({ template: fs.readFileSync(path.join(ROOT, 'pages', name, 'index.wxml'), 'utf8'),
    usingComponents, data: JSON.parse(JSON.stringify(definition.data)), methods });
  const page = simulate.render(id);
  page.attach(document.createElement('parent-wrapper'));
  return page;
}

const tap = async (node, event = 'tap', detail = {}) => { node.dispatchEvent(event, { detail }); await simulate.sleep(20); };
const popupOf = (page) => page.querySelector('#privacy');

test('the privacy pop-up: agree resolves with agree-btn, refuse with disagree, the guide opens', async () => {
  createRuntime({ baseUrl, files, loginCode: 'sim-popup-' + Date.now() });
  const privacy = privacyRuntime();
  const popup = simulate.render(simulate.load(POPUP));
  popup.attach(document.createElement('parent-wrapper'));
  assert.equal(popup.querySelector('#agree-btn'), undefined); // hidden until the base library asks
  assert.equal(typeof privacy.handler, 'function');

  let answer = null;
  privacy.handler((a) => { answer = a; });
  await simulate.sleep(10);
  const agree = popup.querySelector('#agree-btn');
  assert.ok(agree, 'the pop-up shows when consent is needed');
  const json = JSON.stringify(popup.toJSON());
  assert.match(json, /"name":"openType","value":"agreePrivacyAuthorization"/);
  assert.match(json, /VoxMoji 用户隐私保护指引/); // the contract's name from wx.getPrivacySetting
  await tap(popup.querySelector('#contract-link'));
  assert.equal(privacy.contracts, 1);
  await tap(agree, 'agreeprivacyauthorization');
  assert.deepEqual(answer, { buttonId: 'agree-btn', event: 'agree' });
  assert.equal(popup.querySelector('#agree-btn'), undefined);

  privacy.handler((a) => { answer = a; });
  await simulate.sleep(10);
  await tap(popup.querySelector('#disagree-btn'));
  assert.deepEqual(answer, { event: 'disagree' });
  assert.equal(popup.querySelector('#disagree-btn'), undefined);
});

test('recording on the voice page asks for privacy consent first: agree records, refuse does not', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-voice-' + Date.now() });
  const privacy = privacyRuntime();
  const page = renderPage('voice');
  await page.instance.onLoad();
  await simulate.sleep(20);
  assert.match(JSON.stringify(page.toJSON()), /我是本人，我同意用我的声音生成语音/); // the consent sentence, from the server

  const refused = page.instance.startRecord();
  await simulate.sleep(20);
  await tap(popupOf(page).querySelector('#disagree-btn'));
  assert.equal(await refused, false);
  assert.equal(page.instance.data.recording, false);
  assert.equal(rt.recorder.options, null);
  assert.ok([...rt.calls.modal, ...rt.calls.toast].includes('需要同意隐私保护指引才能录音'));

  const agreed = page.instance.startRecord();
  await simulate.sleep(20);
  await tap(popupOf(page).querySelector('#agree-btn'), 'agreeprivacyauthorization');
  assert.equal(await agreed, true);
  assert.equal(page.instance.data.recording, true);
  assert.equal(rt.recorder.options.format, 'mp3');
  assert.deepEqual(privacy.answers.map((a) => a.event), ['disagree', 'agree']);
});

test('a microphone refused before leads to the settings page with an explanation', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-mic-' + Date.now() });
  const opened = [];
  wx.requirePrivacyAuthorize = ({ success }) => success();
  wx.getSetting = (options) => options.success({ authSetting: { 'scope.record': false } });
  wx.showModal = (options) => { rt.calls.modal.push(options.content); options.success({ confirm: true }); };
  wx.openSetting = (options) => { opened.push(true); options.success({ authSetting: { 'scope.record': true } }); };
  const page = renderPage('voice');
  await page.instance.onLoad();
  assert.equal(await page.instance.startRecord(), true);
  assert.equal(opened.length, 1);
  assert.ok(rt.calls.modal.some((m) => m.includes('麦克风')));
  assert.equal(rt.calls.toast.length, 0); // explained in a dialog, not a toast

  wx.openSetting = (options) => options.success({ authSetting: { 'scope.record': false } }); // still refused
  const again = renderPage('voice');
  await again.instance.onLoad();
  assert.equal(await again.instance.startRecord(), false);
  assert.equal(again.instance.data.recording, false);
});

test('a sticker made on the rendered page shows the AI label, a report entry and shares itself', async () => {
  createRuntime({ baseUrl, files, loginCode: 'sim-emoji-' + Date.now() });
  privacyRuntime();
  const page = renderPage('emoji');
  await page.instance.onLoad();
  page.instance.onTemplate({ detail: { value: page.instance.data.templates.findIndex((t) => t.template_id === 'panda') } });
  page.instance.onText({ detail: { value: '分享我' } });
  await page.instance.generate();
  await simulate.sleep(20);
  const json = JSON.stringify(page.toJSON());
  assert.match(json, /AI生成/);
  assert.match(json, /举报/);
  const share = page.instance.onShareAppMessage();
  assert.equal(share.path, '/pages/emoji/index');
  assert.match(share.imageUrl, /\/media\/sticker\//);
  assert.match(page.instance.onShareTimeline().imageUrl, /\/media\/sticker\//);
});

test('history shows the spoken text and local times; the home and voice pages share', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-history-' + Date.now() });
  privacyRuntime();
  const emoji = renderPage('emoji');
  await emoji.instance.onLoad();
  emoji.instance.onTemplate({ detail: { value: emoji.instance.data.templates.findIndex((t) => t.template_id === 'panda') } });
  emoji.instance.onText({ detail: { value: '记录里的字' } });
  await emoji.instance.generate();
  const history = renderPage('history');
  await history.instance.onShow();
  await simulate.sleep(20);
  const json = JSON.stringify(history.toJSON());
  assert.match(json, /配字：记录里的字/);
  const task = history.instance.data.tasks[0];
  const local = new Date(task.created_at);
  const pad = (n) => String(n).padStart(2, '0');
  assert.equal(task.when, `${local.getFullYear()}-${pad(local.getMonth() + 1)}-${pad(local.getDate())} ${pad(local.getHours())}:${pad(local.getMinutes())}`);
  assert.ok(!json.includes(task.created_at)); // not the raw UTC string
  const home = renderPage('index');
  assert.equal(home.instance.onShareAppMessage().path, '/pages/index/index');
  assert.ok(home.instance.onShareTimeline().title);
  assert.equal(renderPage('voice').instance.onShareAppMessage().path, '/pages/voice/index');
  assert.ok(rt.calls.requests.length > 0);
});

test('what a reviewer checks in app.json and the pages', () => {
  const app = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'));
  assert.equal(app.__usePrivacyCheck__, true);
  assert.equal(app.permission, undefined); // scope.record in `permission` has no effect: it is asked at recording
  for (const key of ['color', 'selectedColor', 'backgroundColor']) assert.match(app.tabBar[key], /^#[0-9a-f]{6}$/i);
  for (const item of app.tabBar.list) {
    for (const icon of [item.iconPath, item.selectedIconPath]) {
      const data = fs.readFileSync(path.join(ROOT, icon));
      assert.equal(data.subarray(1, 4).toString(), 'PNG');
      assert.ok(data.length < 40 * 1024); // WeChat's limit for tabBar icons
    }
  }
  for (const page of ['voice', 'emoji']) { // the pages that record or pick photos carry the pop-up
    assert.match(fs.readFileSync(path.join(ROOT, 'pages', page, 'index.wxml'), 'utf8'), /<privacy-popup/);
  }
  for (const page of fs.readdirSync(path.join(ROOT, 'pages'))) { // every list has a unique key
    const wxml = fs.readFileSync(path.join(ROOT, 'pages', page, 'index.wxml'), 'utf8');
    for (const loop of wxml.match(/<[^>]*wx:for=[^>]*>/g) || []) assert.match(loop, /wx:key="[^"*]+"/, page);
  }
});

// A saved voice for this runtime's user (the recording read the consent sentence).
async function saveVoice(rt) {
  const consent = await rt.request.request({ path: '/api/v1/voices/consent' });
  const saved = await rt.request.request({ path: '/api/v1/voices', method: 'POST', data: {
    audio: fs.readFileSync(files.audio).toString('base64'), audio_format: 'mp3', consent_token: consent.consent_token,
    prompt_text: consent.text, name: '测试声音' } });
  return saved.voice.voice_id;
}

test('the pack page makes eight stickers, previews them and copies the export link', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-pack-' + Date.now() });
  privacyRuntime();
  const page = renderPage('pack');
  await page.instance.onLoad();
  assert.equal(page.instance.data.items.length, 8);
  assert.deepEqual(page.instance.data.items.map((i) => i.name), ['开心', '大笑', '惊讶', '生气', '难过', '害羞', '无语', '得意']);
  page.instance.onTemplate({ detail: { value: page.instance.data.templates.findIndex((t) => t.template_id === 'panda') } });
  page.instance.onCaption({ currentTarget: { dataset: { index: 0 } }, detail: { value: '好开心呀' } });
  const done = await page.instance.generate();
  assert.ok(done, 'the pack was made');
  await simulate.sleep(20);
  const json = JSON.stringify(page.toJSON());
  const previews = json.match(/\/media\/pack\/[^"]*?\.parts\/\d\d\.gif/g) || [];
  assert.equal(new Set(previews).size, 8); // every sticker shown
  assert.match(json, /AI生成/);
  assert.match(json, /举报/);
  assert.equal(await page.instance.copyLink(), true);
  assert.match(rt.calls.clipboard[0], /\/media\/pack\/.*\.zip\?/);
  const zip = await fetch(rt.calls.clipboard[0]);
  assert.equal(zip.status, 200);
  assert.equal(Buffer.from(await zip.arrayBuffer()).subarray(0, 2).toString(), 'PK'); // a zip
  assert.equal(done.result.stickers[0].text, '好开心呀');
  assert.equal(page.instance.onShareAppMessage().path, '/pages/pack/index');
});

test('the talking page plays a talking sticker, saves and shares the video', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-talk-' + Date.now() });
  privacyRuntime();
  await saveVoice(rt);
  const page = renderPage('talking');
  await page.instance.onLoad();
  page.instance.onVoice({ detail: { value: 0 } });
  page.instance.onTemplate({ detail: { value: page.instance.data.templates.findIndex((t) => t.template_id === 'panda') } });
  page.instance.onText({ detail: { value: '你好呀，今天真开心' } });
  const done = await page.instance.generate();
  assert.ok(done, 'the talking sticker was made');
  await simulate.sleep(20);
  const json = JSON.stringify(page.toJSON());
  assert.match(json, /"tagName":"video"|wx-video|talking-video/);
  assert.match(json, /\/media\/talking\/[^"]*\.mp4\?/); // the video element's source
  assert.match(json, /AI生成/);
  // no native controls over the caption: a tap on the video (or the page's own button) plays and pauses it
  const videoNode = page.querySelector('#talking-video');
  const attrs = Object.fromEntries(videoNode.toJSON().attrs.map((a) => [a.name, a.value]));
  assert.equal(attrs.controls, false);
  assert.equal(attrs['show-center-play-btn'], false);
  assert.equal(attrs['show-mute-btn'], undefined);
  await tap(videoNode);
  await tap(videoNode, 'play');
  await tap(videoNode);
  assert.deepEqual(rt.calls.video, ['play talking-video', 'pause talking-video']);
  assert.match(JSON.stringify(page.toJSON()), /暂停/);
  const video = await fetch(done.video_url);
  assert.equal(video.headers.get('content-type'), 'video/mp4');
  assert.ok(await page.instance.saveVideo());
  assert.equal(rt.calls.savedVideos.length, 1);
  assert.ok(await page.instance.share());
  assert.equal(rt.calls.sharedVideos.length, 1);
  assert.equal(page.instance.onShareAppMessage().path, '/pages/talking/index');
});

test('the voice page plays speech while it is made (chunked request, Web Audio)', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-stream-' + Date.now() });
  privacyRuntime();
  await saveVoice(rt);
  const page = renderPage('voice');
  await page.instance.onLoad();
  page.instance.onVoice({ detail: { value: 0 } });
  page.instance.onEmotion({ detail: { value: page.instance.data.emotions.findIndex((e) => e.value === 'happy') } });
  page.instance.onText({ detail: { value: '今天天气真好，我们一起去公园散步吧。这家店的奶茶特别好喝，下次再来。明天早上八点，我们在学校门口见面。' } });
  const heard = await page.instance.speakNow();
  assert.ok(heard, 'the stream was heard');
  const stream = rt.calls.streams[0];
  assert.ok(stream.chunks >= 3, 'the audio came in pieces: ' + stream.chunks);
  assert.ok(rt.calls.webAudio.firstStartAt > 0 && rt.calls.webAudio.firstStartAt < stream.doneAt); // played before the end
  assert.ok(rt.calls.webAudio.starts.length >= 2);
  assert.ok(rt.calls.webAudio.starts.some((s) => s.peak > 0.05)); // sound, not silence
  assert.ok(heard.seconds > 3, 'three sentences: ' + heard.seconds);
  // (the stream ends first; the task finishes after it, its file stored: followed until it does, however loaded)
  const task = await madeTask(rt, null, null, heard.taskId);
  assert.equal(task.status, 'succeeded');
  assert.deepEqual(task.result.instruct_applied, ['happy']);
  assert.match(page.instance.data.streamNote, /播放完毕/);
});

test('the voice page says what the similarity means: an unrelated voice reads 不像, the built-in voice says so', async () => {
  // the "recording" is a voice espeak-world cannot imitate (media_samples.unrelated_voice): raw cosine ~0.55
  createRuntime({ baseUrl, files: { ...files, audio: process.env.VOXMOJI_UNLIKE_AUDIO_FILE }, loginCode: 'sim-unlike-' + Date.now() });
  const page = renderPage('voice');
  await page.instance.onLoad();
  assert.equal(await page.instance.startRecord(), true);
  page.instance.stopRecord();
  page.instance.onText({ detail: { value: '你好，这是小程序的测试。' } });
  await page.instance.generate();
  await simulate.sleep(20);
  assert.equal(page.instance.data.error, '');
  const shown = JSON.stringify(page.toJSON());
  assert.match(shown, /音色接近度：不像/);
  assert.match(shown, /这是内置合成音，不是你的声音/);
  assert.doesNotMatch(shown, /相似度 \d/); // no raw cosine dressed as a percentage
});

test('the emoji page picks an emotion from the server list', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-emotion-' + Date.now() });
  privacyRuntime();
  const page = renderPage('emoji');
  await page.instance.onLoad();
  assert.ok(page.instance.data.emotions.length >= 11);
  page.instance.onTemplate({ detail: { value: page.instance.data.templates.findIndex((t) => t.template_id === 'astronaut') } });
  page.instance.onEmotion({ detail: { value: page.instance.data.emotions.findIndex((e) => e.label === '害羞') } });
  await page.instance.generate();
  const task = await rt.request.request({ path: '/api/v1/tasks/' + page.instance.data.taskId });
  assert.equal(task.result.decoration, 'blush');
  assert.equal(task.result.expression, 'smile');
});

// The access token the runtime's user holds now (for checking what the server says behind the page's back).
const bearer = (rt) => ({ Authorization: 'Bearer ' + rt.storage.voxmoji_token });

test('我的: saved voices are listed and deleted only after a confirmation', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-me-voices-' + Date.now() });
  privacyRuntime();
  const voiceId = await saveVoice(rt);
  const page = renderPage('me');
  await page.instance.onShow();
  await simulate.sleep(20);
  assert.match(JSON.stringify(page.toJSON()), /测试声音/);
  assert.equal(page.instance.data.voices[0].voice_id, voiceId);
  const deleteButton = () => page.querySelector('.danger'); // the first voice's 删除

  rt.calls.modalConfirm = false; // 取消: nothing is deleted
  await tap(deleteButton());
  assert.match(rt.calls.modal.at(-1), /测试声音.*一起删除/);
  assert.equal(page.instance.data.voices.length, 1);
  rt.calls.modalConfirm = true;
  assert.equal(await page.instance.deleteVoice({ currentTarget: { dataset: { index: 0 } } }), true);
  assert.equal(page.instance.data.voices.length, 0);
  const listed = await (await fetch(baseUrl + '/api/v1/voices', { headers: bearer(rt) })).json();
  assert.deepEqual(listed.voices, []);
  await simulate.sleep(20);
  assert.match(JSON.stringify(page.toJSON()), /还没有保存的声音/);
});

test('我的: my data is exported as a zip sent to a chat, and the account is deleted after saying what goes', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-me-account-' + Date.now() });
  privacyRuntime();
  await saveVoice(rt);
  const page = renderPage('me');
  await page.instance.onShow();

  const zipPath = await page.instance.exportData();
  assert.ok(zipPath, 'the export was downloaded');
  const zip = fs.readFileSync(zipPath);
  assert.equal(zip.subarray(0, 2).toString(), 'PK');
  for (const name of ['profile.json', 'voices.json', 'jobs.json', 'ledger.json']) assert.ok(zip.includes(name), name);
  assert.equal(rt.calls.downloads.at(-1).url, '/api/v1/me/export');
  assert.match(rt.calls.downloads.at(-1).header.Authorization, /^Bearer /);
  assert.deepEqual(rt.calls.sharedFiles.map((f) => f.path), [zipPath]);
  assert.match(rt.calls.sharedFiles[0].name, /\.zip$/);

  const headers = bearer(rt);
  rt.calls.modalConfirm = false;
  await tap(page.querySelector('#delete-account'));
  const said = rt.calls.modal.at(-1);
  for (const words of ['声音', '生成结果', '上传', '匿名', '哈希', '无法撤销']) assert.ok(said.includes(words), words);
  assert.equal((await fetch(baseUrl + '/api/v1/me', { headers })).status, 200); // cancelled: still there
  rt.calls.modalConfirm = true;
  assert.equal(await page.instance.deleteAccount(), true);
  assert.equal((await fetch(baseUrl + '/api/v1/me', { headers })).status, 403);
  assert.equal(rt.storage.voxmoji_token, undefined);
  assert.equal(rt.storage.voxmoji_refresh, undefined);
  await simulate.sleep(20);
  assert.match(JSON.stringify(page.toJSON()), /账号已注销/);
});

test('the 用户协议 and 隐私政策 open from 我的 and from the privacy pop-up, with the operator filled in', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-agreement-' + Date.now() });
  const privacy = privacyRuntime();
  const me = renderPage('me');
  await tap(me.querySelector('#terms'));
  await tap(me.querySelector('#privacy'));
  assert.deepEqual(rt.calls.navigated, ['/pages/agreement/index?doc=terms', '/pages/agreement/index?doc=privacy']);

  const popup = simulate.render(simulate.load(POPUP));
  popup.attach(document.createElement('parent-wrapper'));
  privacy.handler(() => {});
  await simulate.sleep(10);
  await tap(popup.querySelector('#privacy-link'));
  await tap(popup.querySelector('#terms-link'));
  assert.deepEqual(rt.calls.navigated.slice(2), ['/pages/agreement/index?doc=privacy', '/pages/agreement/index?doc=terms']);
  assert.ok(popup.querySelector('#agree-btn'), 'the pop-up waits for an answer');

  const operator = require(path.join(ROOT, 'legal', 'operator.js'));
  const page = renderPage('agreement');
  page.instance.onLoad({ doc: 'privacy' });
  await simulate.sleep(20);
  const json = JSON.stringify(page.toJSON());
  assert.match(json, /隐私政策/);
  assert.ok(json.includes(operator.operator) && json.includes(operator.contact));
  assert.ok(!json.includes('{{operator}}') && !json.includes('{{contact}}'));
  assert.match(json, /哈希/); // what account deletion keeps
  page.instance.other();
  assert.equal(rt.calls.navigated.at(-1), '/pages/agreement/index?doc=terms');
  const terms = renderPage('agreement');
  terms.instance.onLoad({ doc: 'terms' });
  assert.equal(terms.instance.data.title, '用户协议');
});

test('a recording is saved once: afterwards the saved voice is chosen and the recording let go', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-save-once-' + Date.now() });
  privacyRuntime();
  wx.requirePrivacyAuthorize = ({ success }) => success(); // agreed before
  const page = renderPage('voice');
  await page.instance.onLoad();
  assert.equal(await page.instance.startRecord(), true);
  page.instance.stopRecord();
  const token = page.instance.data.consentToken;
  const saved = await page.instance.saveVoice();
  assert.ok(saved.voice_id);
  assert.equal(page.instance.data.recordPath, '');
  assert.equal(page.instance.data.voices[page.instance.data.voiceIndex].voice_id, saved.voice_id);
  assert.notEqual(page.instance.data.consentToken, token); // a fresh sentence for a next recording
  await page.instance.saveVoice(); // nothing recorded: refused, nothing saved
  assert.ok(rt.calls.toast.includes('请先录一段声音'));
  const listed = await (await fetch(baseUrl + '/api/v1/voices', { headers: bearer(rt) })).json();
  assert.equal(listed.voices.length, 1);
});

// One finished task of the runtime's user: made through the API (endpoint, data), or an existing one (taskId).
async function madeTask(rt, endpoint, data, taskId) {
  const { waitForTask } = require(path.join(ROOT, 'utils', 'tasks.js'));
  const task = await rt.request.request(taskId ? { path: '/api/v1/tasks/' + taskId }
    : { path: endpoint, method: 'POST', data: data });
  return waitForTask(task);
}

test('history shows and opens a task of every kind (speech, sticker, swap, pack, talking sticker)', async () => {
  const rt = createRuntime({ baseUrl, files, loginCode: 'sim-history-all-' + Date.now() });
  privacyRuntime();
  const voiceId = await saveVoice(rt);
  const photo = fs.readFileSync(files.photo).toString('base64');
  const options = await rt.request.request({ path: '/api/v1/options' });
  const stickers = options.pack_default_emotions.map((emotion) => ({ emotion }));
  await madeTask(rt, '/api/v1/tts', { text: '什么？！真的吗，', voice_id: voiceId });
  await madeTask(rt, '/api/v1/emoji', { template_id: 'panda', style: 'panda', text: '配字？！' });
  await madeTask(rt, '/api/v1/swap', { source_image: photo, template_id: 'wanted', face_consent: true });
  await madeTask(rt, '/api/v1/packs', { template_id: 'panda', stickers: stickers, name: '熊猫', animated: false });
  await madeTask(rt, '/api/v1/talking-stickers', { template_id: 'panda', voice_id: voiceId, text: '你好呀' });

  const page = renderPage('history');
  await page.instance.onShow();
  await simulate.sleep(20);
  const tasks = page.instance.data.tasks;
  const byKind = Object.fromEntries(tasks.map((t, index) => [t.kind, Object.assign({ index }, t)]));
  assert.deepEqual(Object.keys(byKind).sort(), ['emoji', 'pack', 'swap', 'talking', 'tts']);
  const kindLabels = Object.fromEntries(options.kinds.map((k) => [k.id, k.label]));
  for (const task of tasks) {
    assert.equal(task.kindLabel, kindLabels[task.kind]);
    assert.equal(task.status, 'succeeded', task.kind);
    if (task.kind !== 'tts') assert.match(task.thumb, /\/media\//, task.kind); // a picture for every visual kind
  }
  const json = JSON.stringify(page.toJSON());
  assert.match(json, /说：什么？！真的吗，/); // full-width punctuation as typed
  assert.match(json, /配字：配字？！/);
  assert.match(json, /说：你好呀/);
  assert.match(json, /表情：熊猫/);

  const open = (kind) => page.instance.open({ currentTarget: { dataset: { index: byKind[kind].index } } });
  assert.equal(open('tts'), 'tts');
  assert.equal(rt.calls.audio.at(-1).src, byKind.tts.audio_url);
  assert.equal(rt.calls.audio.at(-1).plays, 1);
  open('emoji');
  open('swap');
  open('talking');
  assert.deepEqual(rt.calls.previewed, [{ type: 'image', urls: [byKind.emoji.image_url] },
    { type: 'image', urls: [byKind.swap.image_url] }, { type: 'media', urls: [byKind.talking.video_url] }]);
  open('pack');
  assert.equal(rt.calls.clipboard.at(-1), byKind.pack.zip_url);
  const hours = Math.round(options.limits.link_seconds / 360) / 10;
  assert.ok(rt.calls.toast.at(-1).includes(hours + ' 小时内有效'), rt.calls.toast.at(-1));
});
