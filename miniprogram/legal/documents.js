// The 用户协议 and 隐私政策 shown by the mini-program (pages/agreement) and the H5 page (legal.html, served as
// /shared/legal/documents.js). A template: the operator may replace the text; {{operator}} and {{contact}} are
// filled from operator.js (docs/legal.md). Each document is a title and its paragraphs.
(function (root) {
  var DOCUMENTS = {
    terms: {
      title: '用户协议',
      paragraphs: [
        '欢迎使用由{{operator}}（以下简称“我们”）提供的 VoxMoji 声音克隆与表情包服务。使用本服务即表示你同意本协议。',
        '一、服务内容：你可以录制或上传自己的声音，用它生成语音；可以用照片或模板生成表情包、会说话的表情。生成内容由人工智能合成，会带有“AI生成”的显式和隐式标识，请勿去除。',
        '二、使用规范：你只能使用你本人的声音和照片，或已取得本人明确同意的声音和照片；不得用生成内容冒充他人、诈骗、诽谤、传播违法违规信息或侵犯他人的肖像权、声音权益和其他合法权益。我们会对文字、录音、照片和生成结果进行安全审核，违规内容会被拒绝或撤回。',
        '三、次数与费用：生成内容会消耗次数，每个按钮上会标明本次消耗和剩余次数；生成失败、被取消或被撤回的结果，次数按规则退回。',
        '四、你的数据：你可以在“我的”里查看和删除已保存的声音、导出你的数据、注销账号。具体见《隐私政策》。',
        '五、举报与投诉：你可以在每个结果旁举报；也可以联系我们：{{contact}}。',
        '六、协议变更：我们可能更新本协议，更新后会在本页面公布；继续使用即表示你接受更新后的协议。'
      ]
    },
    privacy: {
      title: '隐私政策',
      paragraphs: [
        '本政策说明{{operator}}（以下简称“我们”）如何处理你在 VoxMoji 中提供的信息。',
        '一、我们收集的信息：微信登录标识（openid，用于识别你的账号）；你录制或上传的声音、照片，你输入的文字；由它们生成的语音、表情包和视频；次数的变动明细。',
        '二、用途：录音和照片只用于生成你要求的内容；朗读授权语句的录音用于确认声音主人本人同意。文字和生成结果会经过内容安全审核（可能由微信内容安全接口完成）。',
        '三、保存期限：生成结果和上传的文件在保存期限届满后自动删除，结果链接在有效期内可用；已保存的声音保留到你删除它或注销账号为止。',
        '四、你的权利：在“我的”里，你可以查看和删除已保存的声音（同时删除用它生成的结果）、导出你的全部数据（个人资料、声音、任务记录、次数明细）、注销账号。',
        '五、注销账号：注销后账号立即停用，并在几分钟内删除你保存的声音、所有生成结果和上传文件；次数明细以匿名方式保留，用于对账；我们只保留一个由你的微信身份计算出的、无法还原的摘要（带密钥的哈希），仅用于避免重复领取新用户赠送次数。',
        '六、共享：除法律法规要求和内容安全审核外，我们不会向第三方提供你的信息。',
        '七、联系我们：{{contact}}。'
      ]
    }
  };

  // A document with the operator's name and contact in place of its placeholders.
  function filled(name, operator) {
    var doc = DOCUMENTS[name] || DOCUMENTS.terms;
    var fill = function (text) {
      return text.replace(/\{\{\s*(operator|contact)\s*\}\}/g, function (_, key) { return operator[key] || ''; });
    };
    return { name: DOCUMENTS[name] ? name : 'terms', title: doc.title, paragraphs: doc.paragraphs.map(fill) };
  }

  var api = { DOCUMENTS: DOCUMENTS, filled: filled };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else root.VoxLegal = api;
})(this);
