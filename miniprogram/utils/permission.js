// Device permissions (microphone, album). A permission the user refused before cannot be asked again: explain
// why it is needed and offer the settings page (wx.openSetting), instead of failing with a toast.
function ensureScope(scope, explanation) {
  return new Promise((resolve) => {
    const explain = () => wx.showModal({
      title: '需要你的授权', content: explanation, confirmText: '去设置', cancelText: '暂不',
      success: (choice) => {
        if (!choice.confirm) { resolve(false); return; }
        wx.openSetting({
          success: (res) => resolve(!!(res.authSetting && res.authSetting[scope])),
          fail: () => resolve(false)
        });
      },
      fail: () => resolve(false)
    });
    wx.getSetting({
      success: (res) => {
        const granted = res.authSetting[scope];
        if (granted === true) { resolve(true); return; }
        if (granted === false) { explain(); return; }
        wx.authorize({ scope: scope, success: () => resolve(true), fail: explain });
      },
      fail: () => resolve(false)
    });
  });
}

const MICROPHONE = '录制声音需要使用麦克风。请在设置中打开「麦克风」，再回来录音。';
const ALBUM = '保存表情包需要访问相册。请在设置中打开「添加到相册」，再回来保存。';

module.exports = { ensureScope, MICROPHONE, ALBUM };
