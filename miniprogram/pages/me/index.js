// 我的: the balance and its history, saved voices (deleted with a confirmation), exporting one's data, deleting
// the account (with a confirmation saying what is erased), and the 用户协议 / 隐私政策.
const { request, login, refresh, showError, resetSession, authorizedHeader, apiErrorFromBody } = require('../../utils/request.js');
const config = require('../../config.js');
const { localTime } = require('../../utils/dates.js');

const KINDS = { grant: '赠送', recharge: '充值', hold: '冻结', capture: '消费', release: '退回', adjust: '调整' };

// What DELETE /api/v1/me erases and keeps (docs/API.md), said before the user confirms.
const ERASURE = '注销后账号立即停用，几分钟内删除：你保存的全部声音、所有生成结果（语音、表情包、视频）和上传的录音与照片。' +
  '次数明细以匿名方式保留用于对账；只保留微信身份的不可还原摘要（带密钥的哈希），仅用于避免重复领取新用户赠送次数。此操作无法撤销。';

const confirm = (title, content, confirmText) => new Promise((resolve) => wx.showModal({
  title: title, content: content, confirmText: confirmText, confirmColor: '#e64340',
  success: (res) => resolve(Boolean(res.confirm)), fail: () => resolve(false)
}));

Page({
  data: { user: null, entries: [], voices: [], loggedIn: false, deleted: false, exporting: false },
  onShow() { return this.load(); },
  async load() {
    try {
      const me = await request({ path: '/api/v1/me' }); // first alone: a stale session is renewed once
      const [ledger, voices] = await Promise.all([request({ path: '/api/v1/me/ledger?limit=30' }),
        request({ path: '/api/v1/voices' })]);
      const entries = ledger.entries.map((e) => Object.assign({}, e, { kindLabel: KINDS[e.kind] || e.kind }));
      this.setData({ user: me.user, entries: entries, loggedIn: true, deleted: false,
        voices: voices.voices.map((v) => Object.assign({}, v, { when: localTime(v.created_at),
          seconds: Number(v.duration || 0).toFixed(1) })) });
    } catch (error) { this.setData({ loggedIn: false }); showError(error); }
  },
  async relogin() {
    resetSession();
    wx.removeStorageSync('voxmoji_token');
    try { await login(); await this.load(); } catch (error) { showError(error); }
  },

  // A saved voice, deleted after a confirmation (with the results made with it, as the API does).
  async deleteVoice(e) {
    const voice = this.data.voices[e.currentTarget.dataset.index];
    if (!voice) return false;
    const sure = await confirm('删除声音', '删除“' + voice.name + '”后，用它生成的语音和会说话的表情也会一起删除，无法恢复。', '删除');
    if (!sure) return false;
    try {
      await request({ path: '/api/v1/voices/' + voice.voice_id, method: 'DELETE' });
      wx.showToast({ title: '已删除', icon: 'success' });
      this.setData({ voices: this.data.voices.filter((v) => v.voice_id !== voice.voice_id) });
      return true;
    } catch (error) { showError(error); return false; }
  },

  // 导出我的数据: the API's zip (it needs the Bearer token, so there is no link to copy) downloaded to a temp
  // file and sent as a chat file, to open on a phone or a computer.
  async exportData() {
    if (this.data.exporting) return false;
    this.setData({ exporting: true });
    try {
      const filePath = await this.download(false);
      await new Promise((resolve, reject) => wx.shareFileMessage({ filePath: filePath, fileName: 'VoxMoji-我的数据.zip',
        success: resolve, fail: (err) => (/cancel/.test((err && err.errMsg) || '') ? resolve() : reject(new Error('发送失败，请重试'))) }));
      return filePath;
    } catch (error) { showError(error); return false; } finally { this.setData({ exporting: false }); }
  },

  async download(retried) {
    const header = await authorizedHeader();
    const res = await new Promise((resolve, reject) => wx.downloadFile({ url: config.apiBase + '/api/v1/me/export',
      header: header, success: resolve, fail: () => reject(new Error('下载失败，请检查网络')) }));
    if (res.statusCode === 401 && !retried) {
      resetSession();
      wx.removeStorageSync('voxmoji_token');
      if (!(await refresh())) await login();
      return this.download(true);
    }
    if (res.statusCode !== 200) {
      let body = '';
      try { body = wx.getFileSystemManager().readFileSync(res.tempFilePath, 'utf8'); } catch (e) { /* no body */ }
      throw apiErrorFromBody(res.statusCode, body, res.header);
    }
    return res.tempFilePath;
  },

  // 注销账号, after a confirmation that says what is erased and what is kept.
  async deleteAccount() {
    if (!(await confirm('注销账号', ERASURE, '注销'))) return false;
    try {
      await request({ path: '/api/v1/me', method: 'DELETE' });
    } catch (error) { showError(error); return false; }
    resetSession();
    wx.removeStorageSync('voxmoji_token');
    wx.removeStorageSync('voxmoji_refresh');
    const app = getApp();
    if (app && app.globalData) app.globalData.user = null;
    this.setData({ deleted: true, loggedIn: false, user: null, entries: [], voices: [] });
    wx.showToast({ title: '账号已注销', icon: 'success' });
    return true;
  },

  openAgreement(e) {
    wx.navigateTo({ url: '/pages/agreement/index?doc=' + (e.currentTarget.dataset.doc || 'terms') });
  }
});
