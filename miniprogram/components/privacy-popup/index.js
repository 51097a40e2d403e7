// 隐私保护指引 pop-up. When the base library needs the user's privacy consent (recording, choosing a photo,
// saving to the album), it calls wx.onNeedPrivacyAuthorization; this component shows the pop-up with the
// agree button the base library requires (<button open-type="agreePrivacyAuthorization">, id agree-btn), a
// refuse path, a link to the guide (wx.openPrivacyContract) and to our 用户协议 and 隐私政策 (pages/agreement).
// Every page that records or picks photos has one.
Component({
  data: { show: false, contractName: '《用户隐私保护指引》' },

  lifetimes: {
    attached() { this.listen(); }
  },
  pageLifetimes: {
    // Only one handler is kept by the base library: the page on screen takes it back when it shows again.
    show() { this.listen(); }
  },

  methods: {
    listen() {
      if (!wx.onNeedPrivacyAuthorization) return;
      wx.onNeedPrivacyAuthorization((resolve) => {
        this.resolvePrivacy = resolve;
        this.setData({ show: true });
      });
      if (wx.getPrivacySetting) {
        wx.getPrivacySetting({
          success: (res) => { if (res.privacyContractName) this.setData({ contractName: res.privacyContractName }); }
        });
      }
    },

    // The agree button's open-type makes the base library record the consent; we let the waiting API go on.
    onAgree() { this.finish({ buttonId: 'agree-btn', event: 'agree' }, 'agree'); },

    onDisagree() { this.finish({ event: 'disagree' }, 'disagree'); },

    openContract() {
      if (wx.openPrivacyContract) wx.openPrivacyContract({ fail: () => wx.showToast({ title: '暂时无法打开，请稍后再试', icon: 'none' }) });
    },

    // Our own 用户协议 / 隐私政策 (pages/agreement): the pop-up stays until the user answers it.
    openAgreement(e) {
      wx.navigateTo({ url: '/pages/agreement/index?doc=' + (e.currentTarget.dataset.doc || 'privacy') });
    },

    finish(answer, name) {
      const resolve = this.resolvePrivacy;
      this.resolvePrivacy = null;
      this.setData({ show: false });
      if (resolve) resolve(answer);
      this.triggerEvent(name, answer);
    }
  }
});
