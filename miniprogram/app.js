// VoxMoji mini-program: 克隆声音 and 做表情包 on a VoxMoji server (config.js).
App({
  globalData: { user: null, privacyResolve: null },
  onLaunch() {
    // Recording and saving to the album need the user's consent to the privacy agreement first.
    if (wx.onNeedPrivacyAuthorization) {
      wx.onNeedPrivacyAuthorization((resolve) => {
        wx.showModal({
          title: '隐私保护提示',
          content: '录音和保存图片需要你同意《用户隐私保护指引》。你的录音只用于生成语音，生成内容会标注“AI生成”。',
          confirmText: '同意',
          cancelText: '拒绝',
          success: (res) => resolve({ event: res.confirm ? 'agree' : 'disagree', buttonId: 'agree-btn' })
        });
      });
    }
  }
});
