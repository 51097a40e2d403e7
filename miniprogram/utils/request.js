// The one request wrapper every page uses (contract: docs/API.md): Bearer token, login on first use; on 401
// the refresh token first (access tokens are short-lived), a new login only if that fails,
// base64 JSON via wx.request, multipart via wx.uploadFile, an Idempotency-Key reused on retry,
// timeouts, and every failure shown to the user in Chinese.
const config = require('../config.js');
const errors = require('./errors.js');

let token = '';
let loggingIn = null;
let refreshing = null;

function newIdempotencyKey() {
  return 'mp-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10);
}

function call(options) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: config.apiBase + options.path,
      method: options.method || 'GET',
      data: options.data,
      header: Object.assign({ 'Content-Type': 'application/json' }, options.header || {}),
      timeout: config.requestTimeout,
      success: (res) => resolve(res),
      fail: (err) => reject(networkError(err))
    });
  });
}

function upload(options) {
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: config.apiBase + options.path,
      filePath: options.filePath,
      name: options.name,
      formData: options.formData || {},
      header: options.header || {},
      timeout: config.requestTimeout,
      success: (res) => {
        let data = res.data;
        try { data = JSON.parse(res.data); } catch (e) { /* keep the text */ }
        resolve({ statusCode: res.statusCode, data: data, header: res.header || {} });
      },
      fail: (err) => reject(networkError(err))
    });
  });
}

function networkError(err) {
  const timedOut = err && /timeout/i.test(err.errMsg || '');
  const error = new Error(errors.messageFor(timedOut ? 'timeout' : 'network'));
  error.code = timedOut ? 'timeout' : 'network';
  return error;
}

function apiError(res) {
  return apiErrorFromBody(res.statusCode, res.data, res.header);
}

// An error answer as an Error with the server's code; the body may be JSON, text or bytes (a stream's answer).
function apiErrorFromBody(statusCode, data, header) {
  let body = data || {};
  if (typeof body !== 'object' || body instanceof ArrayBuffer) {
    try {
      const text = typeof body === 'string' ? body : String.fromCharCode.apply(null, new Uint8Array(body));
      body = JSON.parse(decodeURIComponent(escape(text)));
    } catch (e) { body = {}; }
  }
  const detail = body.error || {};
  const error = new Error(errors.messageFor(detail.code, detail.message));
  error.code = detail.code || 'internal_error';
  error.status = statusCode;
  error.field = detail.field || null;
  error.retryAfter = Number((header || {})['Retry-After'] || (header || {})['retry-after'] || 0);
  return error;
}

// The Authorization header for calls that cannot go through request() (a chunked stream); logs in first.
async function authorizedHeader() {
  await ensureToken();
  return { Authorization: 'Bearer ' + token };
}

function login() {
  if (!loggingIn) {
    loggingIn = new Promise((resolve, reject) => {
      wx.login({
        success: (result) => {
          call({ path: '/api/v1/auth/login', method: 'POST', data: { code: result.code } }).then((res) => {
            if (res.statusCode !== 200) { reject(apiError(res)); return; }
            resolve(keepTokens(res.data));
          }, reject);
        },
        fail: () => reject(Object.assign(new Error(errors.messageFor('unauthorized')), { code: 'unauthorized' }))
      });
    }).finally(() => { loggingIn = null; });
  }
  return loggingIn;
}

function keepTokens(data) {
  token = data.access_token;
  wx.setStorageSync('voxmoji_token', token);
  wx.setStorageSync('voxmoji_refresh', data.refresh_token || '');
  const app = getApp();
  if (app && app.globalData) app.globalData.user = data.user;
  return data.user;
}

// A new access token from the refresh token (single use); false when it is gone, used or expired.
function refresh() {
  if (!refreshing) {
    const refreshToken = wx.getStorageSync('voxmoji_refresh') || '';
    refreshing = (refreshToken
      ? call({ path: '/api/v1/auth/refresh', method: 'POST', data: { refresh_token: refreshToken } })
        .then((res) => {
          if (res.statusCode === 200) { keepTokens(res.data); return true; }
          if (res.statusCode === 403) throw apiError(res); // blocked: say so, do not log in again
          return false;
        })
      : Promise.resolve(false)
    ).finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function ensureToken() {
  if (!token) token = wx.getStorageSync('voxmoji_token') || '';
  if (!token) await login();
}

// request({path, method, data}) or request({path, upload: {filePath, name, formData}})
async function request(options, attempt) {
  attempt = attempt || 0;
  await ensureToken();
  const header = Object.assign({ Authorization: 'Bearer ' + token }, options.header || {});
  if (options.idempotent && !options.idempotencyKey) options.idempotencyKey = newIdempotencyKey();
  if (options.idempotencyKey) header['Idempotency-Key'] = options.idempotencyKey;
  let res;
  try {
    res = options.upload
      ? await upload(Object.assign({ path: options.path, header: header }, options.upload))
      : await call({ path: options.path, method: options.method, data: options.data, header: header });
  } catch (err) {
    if (attempt === 0 && options.idempotencyKey) return request(options, 1); // same key: no double effect
    throw err;
  }
  if (res.statusCode === 401 && attempt === 0) {
    token = '';
    wx.removeStorageSync('voxmoji_token');
    if (!(await refresh())) await login();
    return request(options, 1);
  }
  if (res.statusCode >= 400) throw apiError(res);
  return res.data;
}

// Show an error the way WeChat users expect; rate limits say how long to wait.
function showError(error) {
  let message = (error && error.message) || errors.messageFor('internal_error');
  if (error && error.code === 'rate_limited' && error.retryAfter) message += '（约 ' + error.retryAfter + ' 秒后）';
  if (error && (error.code === 'insufficient_tokens' || error.code === 'no_face_detected')) {
    wx.showModal({ title: '提示', content: message, showCancel: false });
  } else {
    wx.showToast({ title: message, icon: 'none', duration: 3000 });
  }
  return message;
}

function resetSession() { token = ''; loggingIn = null; refreshing = null; }

module.exports = { request, login, refresh, showError, resetSession, newIdempotencyKey, authorizedHeader, apiErrorFromBody };
