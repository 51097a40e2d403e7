// API error codes (docs/API.md) -> what the user reads. Shared by the mini-program (require)
// and the H5 page (served as /shared/errors.js), so both say the same thing.
(function (root) {
  var MESSAGES = {
    invalid_request: '请求有误，请检查填写的内容',
    unauthorized: '登录已过期，请重新登录',
    forbidden: '没有权限进行此操作',
    not_found: '内容不存在或已被删除',
    method_not_allowed: '不支持的操作',
    payload_too_large: '文件太大了，请换一个小一点的文件',
    unsupported_media: '不支持这种文件格式，请换一个（音频：wav/mp3/m4a/aac，图片：jpg/png/webp/gif）',
    invalid_audio: '无法识别这段音频，请重新录制',
    audio_too_short: '录音太短了，请至少录 1 秒（建议 3 秒以上）',
    audio_too_long: '录音太长了，请控制在 30 秒以内',
    invalid_image: '图片无法读取，可能已损坏，请换一张',
    no_face_detected: '没有检测到人脸，换一张正脸照片试试',
    text_too_long: '文字太长了，请删减一些',
    content_rejected: '内容未通过安全审核，请修改后再试',
    consent_required: '请先朗读授权语句，确认是本人同意后再保存声音',
    insufficient_tokens: '余额不足，请充值后再试',
    rate_limited: '操作太频繁了，请稍等片刻再试',
    idempotency_conflict: '重复的请求内容不一致，请刷新后重试',
    idempotency_in_progress: '上一个请求还在处理中，请稍候',
    engine_unavailable: '生成服务暂时不可用，请稍后重试（贴纸可换一种风格）',
    engine_failed: '生成失败了，请稍后重试（不会扣除次数）',
    wechat_unavailable: '微信服务繁忙，请稍后重试',
    service_unavailable: '服务繁忙，请稍后重试',
    internal_error: '服务出错了，请稍后重试',
    canceled: '任务已取消',
    gone: '这个结果已随声音一起删除',
    content_blocked: '该内容未通过安全审核，已被撤回',
    network: '网络连接失败，请检查网络后重试',
    timeout: '请求超时，请稍后重试'
  };

  // Codes whose server message says exactly what to change (which field, which styles work, which label):
  // the user reads it after the Chinese summary.
  var WITH_REASON = { invalid_request: true, content_rejected: true, engine_unavailable: true, content_blocked: true };

  function messageFor(code, serverMessage) {
    var known = MESSAGES[code];
    if (!known) return serverMessage || '出错了，请稍后重试';
    return WITH_REASON[code] && serverMessage ? known + '（' + serverMessage + '）' : known;
  }

  var api = { MESSAGES: MESSAGES, messageFor: messageFor };
  if (typeof module !== 'undefined' && module.exports) {
    module.exports = api;
  } else {
    root.VoxErrors = api;
  }
})(this);
