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
