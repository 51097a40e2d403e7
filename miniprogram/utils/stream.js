// Speech streamed while it is made (POST /api/v1/tts/stream, format wav): wx.request with enableChunked, each
// chunk of 16-bit PCM scheduled on a WebAudioContext as soon as it arrives, so playback starts with the first
// sentence. Resolves with what was heard once the stream ends.
const config = require('../config.js');
const { authorizedHeader, apiErrorFromBody, refresh, login } = require('./request.js');

const HEADER_BYTES = 44;

function streamSpeech(fields, onFirstAudio, retried) {
  return authorizedHeader().then((header) => new Promise((resolve, reject) => {
    const audio = wx.createWebAudioContext();
    let pending = new Uint8Array(0);
    let rate = 0;
    let nextStart = 0;
    let chunks = 0;
    let samples = 0;
    let failed = null;

    function schedule(bytes) {
      const count = Math.floor(bytes.length / 2);
      if (!count) return bytes;
      const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
      const buffer = audio.createBuffer(1, count, rate);
      const channel = buffer.getChannelData(0);
      for (let i = 0; i < count; i += 1) channel[i] = view.getInt16(i * 2, true) / 32768;
      const source = audio.createBufferSource();
      source.buffer = buffer;
      source.connect(audio.destination);
      nextStart = Math.max(nextStart, audio.currentTime);
      source.start(nextStart);
      nextStart += count / rate;
      samples += count;
      return bytes.subarray(count * 2);
    }

    const task = wx.request({
      url: config.apiBase + '/api/v1/tts/stream', method: 'POST', data: Object.assign({}, fields, { format: 'wav' }),
      header: Object.assign({ 'Content-Type': 'application/json' }, header), enableChunked: true,
      responseType: 'arraybuffer', timeout: 120000,
      success: (res) => {
        if (res.statusCode === 401 && !retried) { // the access token expired: refresh (or log in) once, then again
          refresh().then((ok) => (ok ? null : login())).then(() => streamSpeech(fields, onFirstAudio, true))
            .then(resolve, reject);
          return;
        }
        if (res.statusCode >= 400) { reject(apiErrorFromBody(res.statusCode, res.data, res.header)); return; }
        if (failed) { reject(failed); return; }
        resolve({ chunks: chunks, seconds: rate ? samples / rate : 0, taskId: (res.header || {})['X-VoxMoji-Task'] ||
          (res.header || {})['x-voxmoji-task'] || '' });
      },
      fail: () => reject(Object.assign(new Error('网络不太稳定，请稍后重试'), { code: 'network' }))
    });
    task.onHeadersReceived && task.onHeadersReceived(() => {});
    task.onChunkReceived((res) => {
      chunks += 1;
      let bytes = new Uint8Array(res.data);
      if (pending.length) { const joined = new Uint8Array(pending.length + bytes.length); joined.set(pending); joined.set(bytes, pending.length); bytes = joined; }
      if (!rate) {
        if (bytes.length < HEADER_BYTES) { pending = bytes; return; }
        const head = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
        if (head.getUint32(0, false) !== 0x52494646) { failed = new Error('语音流格式不对，请重试'); return; } // 'RIFF'
        rate = head.getUint32(24, true);
        bytes = bytes.subarray(HEADER_BYTES);
        if (onFirstAudio) onFirstAudio();
      }
      pending = schedule(bytes).slice();
    });
  }));
}

module.exports = { streamSpeech };
