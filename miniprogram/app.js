// VoxMoji mini-program: 克隆声音 and 做表情包 on a VoxMoji server (config.js).
// The privacy consent the base library asks for (__usePrivacyCheck__) is answered by the privacy-popup
// component on each page that records or picks photos: its agree button is the one WeChat checks.
App({
  globalData: { user: null }
});
