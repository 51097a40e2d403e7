// Where the VoxMoji server is. In WeChat DevTools, point this at your server (https in production,
// and add the domain to the mini-program's request/uploadFile/downloadFile allow-lists).
module.exports = {
  apiBase: 'http://127.0.0.1:8080',
  requestTimeout: 30000,
  pollWaitSeconds: 10
};
