// VoxMoji H5 page: the same flows as the mini-program, on the same API (docs/API.md in the repository).
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  // Every choice, label and limit comes from the server (GET /api/v1/options), loaded before anything else.
  var choices = null;
  var FINISHED = [];
  var KIND = {};
  var STATUS = {};
  var token = localStorage.getItem('voxmoji_token') || '';
  var recorded = null; // a WAV File made from the microphone recording
  var recorder = null;

  // An error is shown next to the control that caused it (`where`: the id of that section's error box); the
  // box at the top only says what stops the whole page (logging in, loading the options).
  function showError(error, where) {
    var box = $(where || 'error');
    var message = (error && error.message) || VoxErrors.messageFor('internal_error');
    if (error && error.code === 'rate_limited' && error.retryAfter) message += '（约 ' + error.retryAfter + ' 秒后）';
    box.textContent = message;
    box.hidden = false;
    box.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  }
  function clearError(where) { $(where || 'error').hidden = true; }
  function errorIn(where) { return function (error) { showError(error, where); }; }

  function deviceCode() {
    var code = localStorage.getItem('voxmoji_device');
    if (!code) {
      code = 'h5-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10);
      localStorage.setItem('voxmoji_device', code);
    }
    return code;
  }

  async function login() {
    var res = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: deviceCode() }) });
    var body = await res.json().catch(function () { return {}; });
    if (!res.ok) throw apiError(res, body);
    return keepTokens(body);
  }

  function keepTokens(body) {
    token = body.access_token;
    localStorage.setItem('voxmoji_token', token);
    localStorage.setItem('voxmoji_refresh', body.refresh_token || '');
    return body.user;
  }

  // Access tokens are short-lived: trade the (single-use) refresh token for new ones; false if that fails.
  async function refresh() {
    var refreshToken = localStorage.getItem('voxmoji_refresh');
    if (!refreshToken) return false;
    var res = await fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }) });
    var body = await res.json().catch(function () { return {}; });
    if (res.status === 403) throw apiError(res, body); // blocked: say so, do not log in again
    if (!res.ok) return false;
    keepTokens(body);
    return true;
  }

  function apiError(res, body) {
    var detail = (body && body.error) || {};
    var error = new Error(VoxErrors.messageFor(detail.code, detail.message));
    error.code = detail.code || 'internal_error';
    error.retryAfter = Number(res.headers.get('Retry-After') || 0);
    return error;
  }

  // api(path, {method, json, form}): Bearer token, one re-login on 401, errors in Chinese.
  async function api(path, options, retried) {
    options = options || {};
    if (!token) await login();
    var headers = { Authorization: 'Bearer ' + token };
    var body;
    if (options.json) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(options.json); }
    if (options.form) body = options.form;
    var res;
    try {
      res = await fetch(path, { method: options.method || (body ? 'POST' : 'GET'), headers: headers, body: body });
    } catch (e) {
      throw Object.assign(new Error(VoxErrors.messageFor('network')), { code: 'network' });
    }
    var data = await res.json().catch(function () { return {}; });
    if (res.status === 401 && !retried) {
      token = '';
      if (!(await refresh())) await login();
      return api(path, options, true);
    }
    if (!res.ok) throw apiError(res, data);
    return data;
  }

  var running = {}; // section -> its progress display, stopped when its work ends (busy)

  // A job's progress, shown from the click on: 「正在提交」, then its status's label (options) and progress, with the
  // seconds waited, ticking every second. `section` names the progress bar (<section>-progress) and its line
  // (<section>-state). Returns {show(task), done()}.
  function progressOf(section) {
    var bar = $(section + '-progress');
    var line = $(section + '-state');
    var started = Date.now();
    var current = null;
    var render = function () {
      var seconds = Math.floor((Date.now() - started) / 1000);
      var what = current ? (STATUS[current.status] || current.status) : '正在提交';
      if (current && current.status === 'reviewing') what += '（内容审核中，通过后即可查看）';
      if (current && current.progress) what += ' ' + current.progress + '%';
      line.textContent = what + ' · 已用 ' + seconds + ' 秒';
      bar.value = Math.max(2, (current && current.progress) || 0);
    };
    bar.hidden = false;
    line.hidden = false;
    render();
    var ticker = setInterval(render, 1000);
    running[section] = {
      show: function (task) { current = task; render(); },
      done: function () { clearInterval(ticker); bar.hidden = true; line.hidden = true; }
    };
    return running[section];
  }

  // Follow a submitted task until it finishes, polling with short waits so that its progress keeps moving.
  async function follow(task, progress) {
    try {
      while (FINISHED.indexOf(task.status) < 0) {
        progress.show(task);
        var started = Date.now();
        task = await api('/api/v1/tasks/' + task.task_id + '?wait=2');
        var elapsed = Date.now() - started;
        // A busy server answers a wait at once (docs/API.md): never poll faster than once a second.
        if (FINISHED.indexOf(task.status) < 0 && elapsed < 1000) {
          await new Promise(function (resolve) { setTimeout(resolve, 1000 - elapsed); });
        }
      }
      progress.show(task);
    } finally {
      progress.done();
    }
    if (task.status !== 'succeeded') {
      var code = (task.error && task.error.code) || 'engine_failed';
      throw Object.assign(new Error(VoxErrors.messageFor(code, task.error && task.error.message)), { code: code });
    }
    return task;
  }

  // Run one generation with its button disabled; errors are shown in its section's box (data-section="tts":
  // #tts-error), the section's progress stopped, balance and history refreshed.
  async function busy(button, work) {
    var section = button.dataset.section;
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      showError(error, section + '-error');
    } finally {
      if (running[section]) { running[section].done(); delete running[section]; }
      button.disabled = false;
      // after a failure too: a failed job is in the history, and its tokens are back in the balance
      refreshAccount().catch(errorIn('error'));
      loadHistory().catch(errorIn('history-error'));
    }
  }

  var available = null; // tokens the user can spend (balance less what running jobs hold)

  async function refreshAccount() {
    var me = await api('/api/v1/me');
    available = me.user.balance - me.user.held;
    $('account').textContent = '可用次数：' + available;
    showCosts();
  }

  // -- what each button spends (GET /api/v1/options `costs`), and the balance after ---------------------

  function characters(text) { return Array.from(text).length; } // as the server counts them: code points

  function speechCost(text) { return Math.ceil(characters(text) / choices.costs.tts_chars_per_token); }

  function stickerCost(style, animated) {
    var costs = choices.costs;
    var one = style === 'sd' ? costs.sd_sticker : costs.sticker;
    return one + (animated ? costs.animated_sticker - costs.sticker : 0);
  }

  // The cost of each spending button, on the button: 「生成声音（消耗 2 次 · 剩 8 次）」.
  function showCosts() {
    if (!choices) return;
    var per = choices.costs.tts_chars_per_token;
    var speech = $('tts-text').value.trim();
    var talking = $('talking-text').value.trim();
    var costs = {
      'tts-go': speech ? speechCost(speech) : null,
      'tts-stream': speech ? speechCost(speech) : null,
      'sticker-go': stickerCost($('style').value, $('animated').checked),
      // a pack takes its source's own style (never Stable Diffusion's): the plain sticker's cost, each
      'pack-go': stickerCost('', $('pack-animated').checked) * $('pack-captions').children.length,
      'talking-go': talking ? speechCost(talking) + choices.costs.talking_extra : null
    };
    Object.keys(costs).forEach(function (id) {
      var button = $(id);
      var cost = costs[id];
      var note;
      if (cost === null) note = '每 ' + per + ' 字消耗 1 次' + (id === 'talking-go' ? '，另加 ' + choices.costs.talking_extra + ' 次' : '');
      else if (available === null) note = '消耗 ' + cost + ' 次';
      else if (cost > available) note = '消耗 ' + cost + ' 次 · 余额不足（可用 ' + available + ' 次）';
      else note = '消耗 ' + cost + ' 次 · 剩 ' + (available - cost) + ' 次';
      button.textContent = button.dataset.label + '（' + note + '）';
      button.dataset.cost = cost === null ? '' : String(cost);
    });
  }

  // How long a result link works (options `limits.link_seconds`), in words.
  function linkLifetime() {
    var seconds = choices.limits.link_seconds;
    if (seconds % 86400 === 0 && seconds >= 2 * 86400) return seconds / 86400 + ' 天';
    if (seconds >= 3600) return Math.round(seconds / 360) / 10 + ' 小时';
    return Math.max(1, Math.round(seconds / 60)) + ' 分钟';
  }

  function showLinkLifetimes() {
    var note = '（链接 ' + linkLifetime() + '内有效）';
    Array.prototype.forEach.call(document.querySelectorAll('.link-life'), function (span) { span.textContent = note; });
  }

  // -- recording: MediaRecorder, then a 16 kHz mono WAV the server accepts ----------------

  function encodeWav(samples, rate) {
    var buffer = new ArrayBuffer(44 + samples.length * 2);
    var view = new DataView(buffer);
    var text = function (offset, s) { for (var i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
    text(0, 'RIFF'); view.setUint32(4, 36 + samples.length * 2, true); text(8, 'WAVE'); text(12, 'fmt ');
    view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); text(36, 'data'); view.setUint32(40, samples.length * 2, true);
    for (var i = 0; i < samples.length; i++) {
      var s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new File([buffer], 'recording.wav', { type: 'audio/wav' });
  }

  async function toWav(blob) {
    var context = new AudioContext();
    var decoded = await context.decodeAudioData(await blob.arrayBuffer());
    context.close();
    var rate = 16000;
    var offline = new OfflineAudioContext(1, Math.ceil(decoded.duration * rate), rate);
    var source = offline.createBufferSource();
    source.buffer = decoded;
    source.connect(offline.destination);
    source.start();
    var rendered = await offline.startRendering();
    return { file: encodeWav(rendered.getChannelData(0), rate), seconds: rendered.duration };
  }

  async function startRecording() {
    clearError('record-error');
    var stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      showError({ message: '无法使用麦克风，请允许浏览器录音，或上传一段录音' }, 'record-error');
      return;
    }
    var chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = function (event) { if (event.data.size) chunks.push(event.data); };
    recorder.onstop = async function () {
      stream.getTracks().forEach(function (t) { t.stop(); });
      try {
        var wav = await toWav(new Blob(chunks, { type: recorder.mimeType }));
        if (wav.seconds < 3) { showError({ message: '录音太短了，请至少录 3 秒' }, 'record-error'); return; }
        recorded = wav.file;
        $('record-state').textContent = '已录 ' + Math.round(wav.seconds) + ' 秒';
      } catch (e) {
        showError({ message: '录音无法处理，请重试或上传一段录音' }, 'record-error');
      }
    };
    recorder.start();
    $('record-start').disabled = true;
    $('record-stop').disabled = false;
    $('record-state').textContent = '录音中…';
  }

  function stopRecording() {
    if (recorder && recorder.state === 'recording') recorder.stop();
    $('record-start').disabled = false;
    $('record-stop').disabled = true;
  }

  // The sentence to read is the consent to cloning this voice (with today's date).
  var consentToken = '';

  async function loadConsent() {
    var consent = await api('/api/v1/voices/consent');
    $('sentence').textContent = consent.text;
    consentToken = consent.consent_token;
  }

  async function loadVoices() {
    var result = await api('/api/v1/voices');
    var select = $('voice-select');
    select.length = 1;
    var talking = $('talking-voice');
    talking.length = 1;
    var list = $('voice-list');
    list.textContent = '';
    result.voices.forEach(function (v) {
      select.add(new Option(v.name + '（' + v.duration.toFixed(1) + ' 秒）', v.voice_id));
      talking.add(new Option(v.name, v.voice_id));
      var item = document.createElement('li');
      item.dataset.voiceId = v.voice_id;
      var label = document.createElement('span');
      label.textContent = v.name + '（' + v.duration.toFixed(1) + ' 秒 · ' + localTime(v.created_at) +
        (v.usable ? '' : ' · 授权审核中') + '）';
      var remove = document.createElement('button');
      remove.className = 'small danger';
      remove.textContent = '删除';
      remove.onclick = function () { deleteVoice(v, remove); };
      item.appendChild(label);
      item.appendChild(remove);
      list.appendChild(item);
    });
    $('voices-empty').hidden = result.voices.length > 0;
  }

  // -- 我的: saved voices, exporting one's data, deleting the account --------------------------------

  async function deleteVoice(voice, button) {
    clearError('mine-error');
    if (!confirm('删除“' + voice.name + '”？用它生成的语音和会说话的表情也会一起删除，无法恢复。')) return;
    button.disabled = true;
    try {
      await api('/api/v1/voices/' + voice.voice_id, { method: 'DELETE' });
      await loadVoices();
      loadHistory().catch(errorIn('history-error'));
    } catch (error) {
      button.disabled = false;
      showError(error, 'mine-error');
    }
  }

  // GET /api/v1/me/export needs the Bearer token: fetched here and handed to the browser as a download.
  async function exportData(retried) {
    clearError('mine-error');
    $('export-state').textContent = '正在打包…';
    try {
      if (!token) await login();
      var res = await fetch('/api/v1/me/export', { headers: { Authorization: 'Bearer ' + token } });
      if (res.status === 401 && !retried) { token = ''; if (!(await refresh())) await login(); return exportData(true); }
      if (!res.ok) throw apiError(res, await res.json().catch(function () { return {}; }));
      var url = URL.createObjectURL(await res.blob());
      var link = document.createElement('a');
      link.href = url;
      link.download = 'VoxMoji-我的数据.zip';
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      $('export-state').textContent = '已下载：个人资料、声音、任务记录和次数明细';
    } catch (error) {
      $('export-state').textContent = '';
      showError(error.code ? error : { message: VoxErrors.messageFor('network') }, 'mine-error');
    }
  }

  // What DELETE /api/v1/me erases and keeps (docs/API.md), said before the user confirms.
  var ERASURE = '注销账号？\n\n账号会立即停用，几分钟内删除：你保存的全部声音、所有生成结果（语音、表情包、视频）和上传的录音与照片。' +
    '\n次数明细以匿名方式保留用于对账；只保留微信身份的不可还原摘要（带密钥的哈希），仅用于避免重复领取新用户赠送次数。\n\n此操作无法撤销。';

  async function deleteAccount() {
    clearError('mine-error');
    if (!confirm(ERASURE)) return;
    try {
      await api('/api/v1/me', { method: 'DELETE' });
    } catch (error) {
      showError(error, 'mine-error');
      return;
    }
    token = '';
    // (the device code stays: logging in again is the same person, whose new account gets no second grant)
    ['voxmoji_token', 'voxmoji_refresh'].forEach(function (key) { localStorage.removeItem(key); });
    $('account').textContent = '账号已注销';
    $('account-deleted').hidden = false;
    Array.prototype.forEach.call(document.querySelectorAll('main button'), function (button) { button.disabled = true; });
    document.body.dataset.deleted = 'yes';
  }

  // A new job's old result goes away as it starts (the result box hidden, its media let go).
  function clearResult(id, media) {
    $(id).hidden = true;
    media.forEach(function (element) { element.removeAttribute('src'); if (element.load) element.load(); });
  }

  async function generateSpeech() {
    clearError('tts-error');
    var text = $('tts-text').value.trim();
    var mode = $('tts-mode').value;
    var instruct = ($('instruct-text').value || $('instruct-preset').value).trim();
    var fail = errorIn('tts-error');
    if (!text) { fail({ message: '请先输入要说的话' }); return; }
    if (mode === 'instruct' && !instruct) { fail({ message: '请选择或输入一个指令，比如“用四川话说”' }); return; }
    var upload = $('audio-file').files[0] || recorded;
    var voiceId = $('voice-select').value;
    if (!upload && !voiceId) { fail({ message: '请先录音、上传录音或选择已保存的声音' }); return; }
    if (upload && !$('save-voice').checked && !$('voice-consent').checked) {
      fail({ message: '用录音生成前，请勾选“我确认录音中的人是我本人或已同意用其声音生成语音”' }); return;
    }
    clearResult('tts-result', [$('tts-audio')]);
    var progress = progressOf('tts');
    return busy($('tts-go'), async function () {
      var promptText = upload === recorded ? $('sentence').textContent : '';
      if (upload && $('save-voice').checked) {
        if (upload !== recorded) {
          throw { message: '保存声音需要在这里朗读上面的授权语句并录音（上传的文件不能保存）' };
        }
        var form = new FormData();
        form.append('audio', upload);
        form.append('name', '我的声音');
        form.append('consent_token', consentToken);
        if (promptText) form.append('prompt_text', promptText);
        voiceId = (await api('/api/v1/voices', { form: form })).voice.voice_id;
        // Saved once: from now on the saved voice is used, the recording and the (spent) consent let go, so
        // the next click does not save the same voice again.
        $('save-voice').checked = false;
        $('audio-file').value = '';
        recorded = null;
        $('record-state').textContent = '已保存为“我的声音”，下面已选中它';
        await Promise.all([loadVoices(), loadConsent()]);
        $('voice-select').value = voiceId;
        upload = null;
      }
      var task;
      if (voiceId && !upload) {
        var json = { text: text, mode: mode, voice_id: voiceId };
        if (mode === 'instruct') json.instruct = instruct;
        if ($('tts-emotion').value) json.emotion = $('tts-emotion').value;
        task = await api('/api/v1/tts', { json: json });
      } else {
        var fields = new FormData();
        fields.append('prompt_audio', upload);
        fields.append('voice_consent', 'true');  // the box above: the speaker agreed
        fields.append('text', text);
        fields.append('mode', mode);
        if (mode === 'instruct') fields.append('instruct', instruct);
        if ($('tts-emotion').value) fields.append('emotion', $('tts-emotion').value);
        if (promptText) fields.append('prompt_text', promptText);
        task = await api('/api/v1/tts', { form: fields });
      }
      task = await follow(task, progress);
      $('tts-audio').src = task.audio_url;
      $('tts-label').textContent = 'AI生成 · ' + (task.engine === 'espeak-world'
        ? '演示引擎：只模仿音高和声音大小，并非真实声音克隆' : '由 AI 合成的声音');
      // the calibrated band (docs/similarity.md), not the raw cosine, which reads ~58% for an unrelated voice
      var band = task.result && task.result.similarity_label;
      $('tts-similarity').textContent = [band ? '音色接近度：' + band : '',
        task.engine === 'espeak-world' ? '这是内置合成音，不是你的声音' : ''].filter(Boolean).join(' · ');
      $('tts-result').hidden = false;
      lastTask.tts = task.task_id;
    });
  }

  // -- 举报 (report a result) -----------------------------------------------------------------

  var lastTask = { tts: null, sticker: null, pack: null, talking: null };

  function openReport(kind) {
    var dialog = $('report-dialog');
    dialog.dataset.task = lastTask[kind] || '';
    $('report-done').hidden = true;
    clearError('report-error');
    dialog.showModal();
  }

  async function sendReport() {
    var dialog = $('report-dialog');
    if (dialog.returnValue !== 'send' || !dialog.dataset.task) return;
    try {
      await api('/api/v1/reports', { json: { job_id: dialog.dataset.task, category: $('report-category').value,
                                             reason: $('report-reason').value.trim() } });
      $('report-done').hidden = false;
    } catch (error) {
      showError(error, 'report-error');
    }
  }

  // -- stickers ----------------------------------------------------------------------------

  async function loadTemplates() {
    var result = await api('/api/v1/templates');
    var select = $('template-select');
    var previews = $('template-previews');
    result.templates.forEach(function (t) {
      select.add(new Option(t.name, t.template_id));
      if (t.preview_url) {
        var img = document.createElement('img');
        img.src = t.preview_url;
        img.alt = t.name;
        img.title = t.name;
        img.onclick = function () { select.value = t.template_id; markTemplate(); };
        img.dataset.templateId = t.template_id;
        previews.appendChild(img);
      }
    });
  }

  function markTemplate() {
    Array.prototype.forEach.call($('template-previews').children, function (img) {
      img.classList.toggle('chosen', img.dataset.templateId === $('template-select').value);
    });
  }

  async function generateSticker() {
    clearError('sticker-error');
    var photo = $('photo-file').files[0];
    var templateId = $('template-select').value;
    var style = $('style').value;
    var fail = errorIn('sticker-error');
    if (!photo && !templateId) { fail({ message: '请先选一张照片或一个模板' }); return; }
    if (photo && !$('face-consent').checked) { fail({ message: '请先确认照片中的人是你本人或已同意' }); return; }
    clearResult('sticker-result', [$('sticker-image')]);
    var progress = progressOf('sticker');
    return busy($('sticker-go'), async function () {
      var task;
      var fields = { text: $('caption').value.trim(), style: style, animated: $('animated').checked };
      if ($('emotion').value) fields.emotion = $('emotion').value;
      if (templateId && (style === 'template' || !photo)) fields.template_id = templateId;
      if (photo) {
        var form = new FormData();
        form.append('image', photo);
        form.append('face_consent', 'true');
        Object.keys(fields).forEach(function (k) { form.append(k, String(fields[k])); });
        task = await api('/api/v1/emoji', { form: form });
      } else {
        task = await api('/api/v1/emoji', { json: fields });
      }
      task = await follow(task, progress);
      $('sticker-image').src = task.image_url;
      $('sticker-download').href = task.image_url;
      $('sticker-result').hidden = false;
      lastTask.sticker = task.task_id;
    });
  }

  // -- speech played while it is made (MediaSource, audio/mpeg) --------------------------------

  // A SourceBuffer takes the next piece (or the end of the stream) only once it is not updating; when the whole
  // speech arrives at once (a result already made), one updateend is not always the last: look again until idle.
  async function settled(buffer) {
    while (buffer.updating) {
      await new Promise(function (resolve) {
        buffer.addEventListener('updateend', resolve, { once: true });
        setTimeout(resolve, 50);
      });
    }
  }

  async function streamSpeech() {
    clearError('tts-error');
    var text = $('tts-text').value.trim();
    var voiceId = $('voice-select').value;
    var fail = errorIn('tts-error');
    if (!text) { fail({ message: '请先输入要说的话' }); return; }
    if (!voiceId) { fail({ message: '边合成边播放需要一个已保存的声音' }); return; }
    if (!window.MediaSource || !MediaSource.isTypeSupported('audio/mpeg')) {
      fail({ message: '这个浏览器不能边合成边播放，请用“生成声音”' }); return;
    }
    clearResult('tts-result', [$('tts-audio')]);
    $('stream-state').textContent = '正在合成…';
    return busy($('tts-stream'), async function () {
      var json = { text: text, voice_id: voiceId, format: 'mp3' };
      if ($('tts-emotion').value) json.emotion = $('tts-emotion').value;
      var started = Date.now();
      var res = await fetch('/api/v1/tts/stream', { method: 'POST', body: JSON.stringify(json),
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token } });
      if (res.status === 401) { if (!(await refresh())) await login(); return streamSpeech(); }
      if (!res.ok) throw apiError(res, await res.json().catch(function () { return {}; }));
      var audio = $('tts-audio');
      var source = new MediaSource();
      audio.src = URL.createObjectURL(source);
      $('tts-result').hidden = false;
      await new Promise(function (resolve) { source.addEventListener('sourceopen', resolve, { once: true }); });
      var buffer = source.addSourceBuffer('audio/mpeg');
      var reader = res.body.getReader();
      var first = true;
      for (;;) {
        var piece = await reader.read();
        if (piece.done) break;
        await settled(buffer);
        buffer.appendBuffer(piece.value);
        if (first) {
          first = false;
          audio.play().catch(function () { /* autoplay refused: the controls are there */ });
          $('stream-state').textContent = '已开始播放（' + (Date.now() - started) + ' 毫秒）';
          document.body.dataset.streamFirst = String(Date.now());
        }
      }
      await settled(buffer);
      source.endOfStream();
      document.body.dataset.streamDone = String(Date.now());
      $('stream-state').textContent += ' · 合成完毕';
      lastTask.tts = res.headers.get('X-VoxMoji-Task');
    });
  }

  // -- sticker packs and talking stickers (the photo or template chosen above) ------------------

  function sourceFields() {
    var photo = $('photo-file').files[0];
    var templateId = $('template-select').value;
    if (!photo && !templateId) throw { message: '请先在“做表情包”里选一张照片或一个模板' };
    if (photo && !$('face-consent').checked) throw { message: '请先确认照片中的人是你本人或已同意' };
    return photo ? fileBase64(photo).then(function (b64) { return { image: b64, face_consent: true }; })
      : Promise.resolve({ template_id: templateId });
  }

  function fileBase64(file) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(String(reader.result)); };
      reader.onerror = function () { reject({ message: '照片读取失败，请重选' }); };
      reader.readAsDataURL(file);
    });
  }

  var emotionNames = {};

  async function loadEmotions() {
    var result = await api('/api/v1/emotions');
    result.emotions.forEach(function (e) {
      emotionNames[e.emotion] = e.name;
      ['tts-emotion', 'emotion', 'talking-emotion'].forEach(function (id) { $(id).add(new Option(e.name, e.emotion)); });
    });
    var captions = $('pack-captions');
    captions.textContent = '';
    choices.pack_default_emotions.forEach(function (id) {
      var input = document.createElement('input');
      input.maxLength = choices.limits.caption;
      input.value = emotionNames[id] || id;
      input.dataset.emotion = id;
      input.title = emotionNames[id] || id;
      captions.appendChild(input);
    });
  }

  async function generatePack() {
    clearError('pack-error');
    var name = $('pack-name').value.trim();
    if (!name) { showError({ message: '请填写表情名称（最多 ' + choices.limits.pack_name + ' 字）' }, 'pack-error'); return; }
    clearResult('pack-result', []);
    $('pack-previews').textContent = '';
    var progress = progressOf('pack');
    return busy($('pack-go'), async function () {
      var json = Object.assign(await sourceFields(), { name: name, animated: $('pack-animated').checked,
        stickers: Array.prototype.map.call($('pack-captions').children, function (input) {
          return { text: input.value.trim(), emotion: input.dataset.emotion };
        }) });
      var task = await follow(await api('/api/v1/packs', { json: json }), progress);
      var previews = $('pack-previews');
      previews.textContent = '';
      task.result.stickers.forEach(function (sticker) {
        var img = document.createElement('img');
        img.src = task.result.parts[sticker.part];
        img.alt = sticker.text;
        img.title = sticker.text;
        previews.appendChild(img);
      });
      $('pack-export').href = task.zip_url;
      $('pack-result').hidden = false;
      lastTask.pack = task.task_id;
    });
  }

  async function generateTalking() {
    clearError('talking-error');
    var text = $('talking-text').value.trim();
    var voiceId = $('talking-voice').value;
    var fail = errorIn('talking-error');
    if (!voiceId) { fail({ message: '请先选择一个已保存的声音（在“克隆声音”里保存）' }); return; }
    if (!text) { fail({ message: '请输入要说的话（最多 ' + choices.limits.talking_text + ' 字）' }); return; }
    clearResult('talking-result', [$('talking-video'), $('talking-gif')]);
    $('talking-shared').textContent = '';
    var progress = progressOf('talking');
    return busy($('talking-go'), async function () {
      var json = Object.assign(await sourceFields(), { text: text, voice_id: voiceId });
      if ($('talking-emotion').value) json.emotion = $('talking-emotion').value;
      var task = await follow(await api('/api/v1/talking-stickers', { json: json }), progress);
      $('talking-video').src = task.video_url;
      $('talking-gif').src = task.image_url;
      $('talking-download').href = task.video_url;
      $('talking-result').hidden = false;
      lastTask.talking = task.task_id;
    });
  }

  // Share a talking sticker: the system share sheet where the browser has one, else its link copied.
  async function shareTalking() {
    var url = $('talking-video').src;
    if (!url) return;
    try {
      if (navigator.share) await navigator.share({ title: '会说话的表情 · VoxMoji', url: url });
      else { await navigator.clipboard.writeText(url); $('talking-shared').textContent = '链接已复制（' + linkLifetime() + '内有效）'; }
    } catch (e) { /* the user closed the share sheet */ }
  }

  // The talking sticker plays with its sound from this button (or a tap on it): native controls would cover
  // its caption on a phone.
  function toggleTalking() {
    var video = $('talking-video');
    if (video.paused) {
      video.muted = false;
      video.play().catch(function () { /* refused: the button stays */ });
    } else {
      video.pause();
    }
  }

  // Server times are UTC; the user reads them in the browser's time zone.
  function localTime(iso) {
    var moment = new Date(iso);
    return isNaN(moment.getTime()) ? iso : moment.toLocaleString('zh-CN', { hour12: false });
  }

  // Pickers, length limits and labels from the server's one list of each.
  async function loadOptions() {
    choices = await api('/api/v1/options');
    FINISHED = choices.statuses.filter(function (s) { return s.finished; }).map(function (s) { return s.id; });
    choices.statuses.forEach(function (s) { STATUS[s.id] = s.label; });
    choices.kinds.forEach(function (k) { KIND[k.id] = k.label; });
    [['tts-mode', choices.tts_modes], ['style', choices.styles]].forEach(function (pair) {
      var select = $(pair[0]);
      select.textContent = '';
      pair[1].forEach(function (choice) { select.add(new Option(choice.label, choice.id)); });
    });
    var limits = choices.limits;
    [['tts-text', limits.tts_text, '输入要说的话'], ['caption', limits.caption, '配字，比如：开心大笑'],
     ['pack-name', limits.pack_name, '表情名称'], ['talking-text', limits.talking_text, '说什么'],
     ['report-reason', limits.report_reason, '补充说明（可选）']].forEach(function (field) {
      $(field[0]).maxLength = field[1];
      $(field[0]).placeholder = field[2] + '（最多 ' + field[1] + ' 字）';
    });
    showLinkLifetimes();
    showCosts();
  }

  async function loadHistory() {
    var page = await api('/api/v1/tasks?limit=10');
    var list = $('history-list');
    list.textContent = '';
    page.tasks.forEach(function (t) {
      var item = document.createElement('li');
      if (t.image_url) { var img = document.createElement('img'); img.src = t.image_url; item.appendChild(img); }
      if (t.zip_url) { var zip = document.createElement('a'); zip.href = t.zip_url; zip.textContent = '压缩包'; item.appendChild(zip); }
      var label = document.createElement('span');
      label.textContent = (KIND[t.kind] || t.kind) + ' · ' + (STATUS[t.status] || t.status) + ' · ' + localTime(t.created_at);
      item.appendChild(label);
      if (t.text) {
        var said = document.createElement('q');
        said.className = 'spoken';
        said.textContent = t.text;
        item.appendChild(said);
      }
      if (t.audio_url) {
        var play = document.createElement('button');
        play.className = 'small';
        play.textContent = '播放';
        play.onclick = function () { $('tts-audio').src = t.audio_url; $('tts-result').hidden = false; $('tts-audio').play(); };
        item.appendChild(play);
      }
      list.appendChild(item);
    });
  }

  async function start() {
    $('record-start').onclick = startRecording;
    $('record-stop').onclick = stopRecording;
    $('tts-go').onclick = generateSpeech;
    $('sticker-go').onclick = generateSticker;
    $('tts-stream').onclick = streamSpeech;
    $('pack-go').onclick = generatePack;
    $('talking-go').onclick = generateTalking;
    $('talking-share').onclick = shareTalking;
    $('history-refresh').onclick = function () { clearError('history-error'); loadHistory().catch(errorIn('history-error')); };
    $('talking-play').onclick = toggleTalking;
    $('talking-video').onclick = toggleTalking;
    $('export-data').onclick = function () { exportData(false); };
    $('delete-account').onclick = deleteAccount;
    // the costs on the buttons follow what they would spend
    ['tts-text', 'talking-text'].forEach(function (id) { $(id).addEventListener('input', showCosts); });
    ['style', 'animated', 'pack-animated'].forEach(function (id) { $(id).addEventListener('change', showCosts); });
    $('template-select').onchange = markTemplate;
    $('instruct-preset').onchange = function () { if (this.value) $('tts-mode').value = 'instruct'; };
    Array.prototype.forEach.call(document.querySelectorAll('button.report'), function (button) {
      button.onclick = function () { openReport(button.dataset.result); };
    });
    $('report-dialog').addEventListener('close', function () { sendReport(); });
    try {
      await refreshAccount();
      await loadOptions();
      await Promise.all([loadVoices(), loadConsent(), loadTemplates(), loadHistory(), loadEmotions()]);
      showCosts();
      document.body.dataset.ready = 'yes';
    } catch (error) {
      showError(error);
    }
  }

  start();
})();
