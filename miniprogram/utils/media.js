// Picking a photo and downloading a result, as every page that makes a face does.

// One photo from the album or the camera: its temp path, or '' if the user cancelled.
function choosePhoto() {
  return new Promise((resolve) => wx.chooseMedia({
    count: 1, mediaType: ['image'], sourceType: ['album', 'camera'], sizeType: ['compressed'],
    success: (res) => resolve(res.tempFiles[0].tempFilePath),
    fail: () => resolve('')
  }));
}

// A result's (signed) URL to a local temp file, for saving to the album or sharing.
function downloadResult(url) {
  return new Promise((resolve, reject) => wx.downloadFile({
    url: url,
    success: (res) => (res.statusCode === 200 ? resolve(res.tempFilePath) : reject(new Error('下载失败'))),
    fail: () => reject(new Error('下载失败，请检查网络'))
  }));
}

module.exports = { choosePhoto, downloadResult };
