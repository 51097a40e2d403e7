// A stub WeChat runtime (wx, App, Page, getApp) that runs the real mini-program modules in Node.
// wx.request and wx.uploadFile go to the real VoxMoji stack started by the pytest run.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../../miniprogram');

function createRuntime({ baseUrl, files, loginCode }) {
  const calls = { login: 0, toast: [], modal: [], audio: [], saved: [], shared: [], requests: [], actionSheets: [],
                  actionSheetChoice: 2, clipboard: [], savedVideos: [], sharedVideos: [],
                  webAudio: { starts: [], firstStartAt: 0 }, streams: [],
                  modalConfirm: false, navigated: [], sharedFiles: [], previewed: [], downloads: [], video: [] };
  const storage = {};
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'voxmoji-mp-'));
  let stopHandler = null;
  let app = null;
  const recorder = {
    options: null,
    start(options) { this.options = options; },
    stop() { stopHandler({ tempFilePath: files.audio, duration: 5200, fileSize: fs.statSync(files.audio).size }); },
    onStop(handler) { stopHandler = handler; },
    onError() {}
  };
  const headersOf = (res) => Object.fromEntries(res.headers.entries());

  // wx.request({enableChunked: true}) as the base library runs it: a RequestTask whose onChunkReceived listeners
  // get each piece of the body (an ArrayBuffer) as it arrives; success comes after the last piece. An error
  // answer comes whole, in success's data.
  function chunkedRequest({ url, method, body, header, timeout, success, fail }) {
    const listeners = [];
    const record = { chunks: 0, firstChunkAt: 0, doneAt: 0 };
    calls.streams.push(record);
    const task = { onChunkReceived: (listener) => listeners.push(listener), onHeadersReceived: () => {}, abort: () => {} };
    fetch(url, { method, headers: header, body, signal: AbortSignal.timeout(timeout || 60000) })
      .then(async (res) => {
        if (res.status >= 400) {
          success({ statusCode: res.status, data: await res.arrayBuffer(), header: headersOf(res) });
          return;
        }
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          record.chunks += 1;
          if (!record.firstChunkAt) record.firstChunkAt = Date.now();
          const piece = value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
          for (const listener of listeners) listener({ data: piece });
        }
        record.doneAt = Date.now();
        success({ statusCode: res.status, data: new ArrayBuffer(0), header: headersOf(res) });
      })
      .catch((error) => fail({ errMsg: 'request:fail ' + error.message }));
    return task;
  }

  // wx.createWebAudioContext: buffers scheduled with start(when) are recorded (nothing is played).
  function webAudioContext() {
    const created = Date.now();
    return {
      destination: {},
      get currentTime() { return (Date.now() - created) / 1000; },
      createBuffer: (channels, length, rate) => {
        const data = new Float32Array(length);
        return { length, sampleRate: rate, duration: length / rate, getChannelData: () => data };
      },
      createBufferSource: () => ({
        buffer: null, connect() {},
        start(when) {
          if (!calls.webAudio.firstStartAt) calls.webAudio.firstStartAt = Date.now();
          calls.webAudio.starts.push({ when, samples: this.buffer.length, rate: this.buffer.sampleRate,
                                       peak: this.buffer.getChannelData(0).reduce((m, v) => Math.max(m, Math.abs(v)), 0) });
        }
      })
    };
  }

  global.App = (definition) => { app = Object.assign({}, definition); };
  global.getApp = () => app;
  global.Page = (definition) => { global.__lastPage = definition; };
  global.wx = {
    login({ success }) { calls.login += 1; success({ code: loginCode }); },
    request({ url, method = 'GET', data, header, timeout, success, fail, enableChunked }) {
      calls.requests.push(method + ' ' + url.replace(baseUrl, ''));
      const body = method === 'GET' ? undefined : JSON.stringify(data || {});
      if (enableChunked) return chunkedRequest({ url, method, body, header, timeout, success, fail });
      fetch(url, { method, headers: header, body, signal: AbortSignal.timeout(timeout || 30000) })
        .then(async (res) => {
          const text = await res.text();
          let parsed = text;
          try { parsed = JSON.parse(text); } catch (e) { /* not JSON */ }
          success({ statusCode: res.status, data: parsed, header: headersOf(res) });
        })
        .catch((error) => fail({ errMsg: 'request:fail ' + error.message }));
    },
    uploadFile({ url, filePath, name, formData, header, success, fail }) {
      calls.requests.push('UPLOAD ' + url.replace(baseUrl, ''));
      const form = new FormData();
      for (const [key, value] of Object.entries(formData || {})) form.append(key, String(value));
      form.append(name, new Blob([fs.readFileSync(filePath)]), path.basename(filePath));
      fetch(url, { method: 'POST', headers: header, body: form })
        .then(async (res) => success({ statusCode: res.status, data: await res.text(), header: headersOf(res) }))
        .catch((error) => fail({ errMsg: 'uploadFile:fail ' + error.message }));
    },
    downloadFile({ url, header, success, fail }) {
      calls.downloads.push({ url: url.replace(baseUrl, ''), header: header || {} });
      fetch(url, { headers: header || {} }).then(async (res) => {
        const file = path.join(scratch, 'download-' + Date.now());
        fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
        success({ statusCode: res.status, tempFilePath: file, header: headersOf(res) });
      }).catch(() => fail({ errMsg: 'downloadFile:fail' }));
    },
    getStorageSync: (key) => storage[key] || '',
    setStorageSync: (key, value) => { storage[key] = value; },
    removeStorageSync: (key) => { delete storage[key]; },
    showToast: (options) => { calls.toast.push(options.title); },
    showActionSheet: (options) => {
      calls.actionSheets.push(options.itemList);
      if (calls.actionSheetChoice === null) options.fail({ errMsg: 'showActionSheet:fail cancel' });
      else options.success({ tapIndex: calls.actionSheetChoice });
    },
    // The user's answer to a dialog: calls.modalConfirm (cancel unless a test says otherwise).
    showModal: (options) => {
      calls.modal.push(options.content);
      if (options.success) options.success({ confirm: calls.modalConfirm, cancel: !calls.modalConfirm });
    },
    shareFileMessage: (options) => { calls.sharedFiles.push({ path: options.filePath, name: options.fileName }); options.success(); },
    getFileSystemManager: () => ({ readFileSync: (file, encoding) => fs.readFileSync(file, encoding) }),
    getRecorderManager: () => recorder,
    chooseMedia: (options) => options.success({ tempFiles: [{ tempFilePath: files.photo }] }),
    createInnerAudioContext: () => {
      const player = { src: '', plays: 0, play() { this.plays += 1; }, destroy() {} };
      calls.audio.push(player);
      return player;
    },
    getSetting: (options) => options.success({ authSetting: {} }),
    authorize: (options) => options.success(),
    openSetting: () => {},
    saveImageToPhotosAlbum: (options) => { calls.saved.push(options.filePath); options.success(); },
    saveVideoToPhotosAlbum: (options) => { calls.savedVideos.push(options.filePath); options.success(); },
    shareVideoMessage: (options) => { calls.sharedVideos.push(options.videoPath); },
    setClipboardData: (options) => { calls.clipboard.push(options.data); options.success(); },
    createWebAudioContext: () => webAudioContext(),
    createVideoContext: (id) => ({ play() { calls.video.push('play ' + id); }, pause() { calls.video.push('pause ' + id); } }),
    showShareImageMenu: (options) => { calls.shared.push(options.path); },
    previewImage: (options) => { calls.previewed.push({ type: 'image', urls: options.urls }); },
    previewMedia: (options) => { calls.previewed.push({ type: 'media', urls: options.sources.map((s) => s.url) }); },
    navigateTo: (options) => { calls.navigated.push(options.url); },
    redirectTo: (options) => { calls.navigated.push(options.url); },
    setNavigationBarTitle: () => {},
    requirePrivacyAuthorize: (options) => options.success(),
    onNeedPrivacyAuthorization: () => {}
  };

  // Fresh copies of the mini-program's modules (config.js pointed at the test stack).
  for (const key of Object.keys(require.cache)) if (key.startsWith(ROOT)) delete require.cache[key];
  require(path.join(ROOT, 'config.js')).apiBase = baseUrl;
  require(path.join(ROOT, 'app.js'));

  function loadPage(name) {
    require(path.join(ROOT, 'pages', name, 'index.js'));
    const definition = global.__lastPage;
    const page = { data: JSON.parse(JSON.stringify(definition.data)) };
    page.setData = (patch) => Object.assign(page.data, patch);
    for (const [key, value] of Object.entries(definition)) if (typeof value === 'function') page[key] = value;
    return page;
  }

  return { calls, storage, recorder, loadPage, request: require(path.join(ROOT, 'utils', 'request.js')) };
}

module.exports = { createRuntime };
