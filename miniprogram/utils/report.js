// 举报: every result has a report entry; the user picks a reason and the report goes to the operator's review queue.
const { request, showError } = require('./request.js');

const CATEGORIES = [
  { label: '色情低俗', value: 'porn' }, { label: '政治敏感', value: 'politics' }, { label: '辱骂攻击', value: 'abuse' },
  { label: '诈骗', value: 'fraud' }, { label: '侵权', value: 'infringement' }, { label: '侵犯隐私', value: 'privacy' },
  { label: '其他', value: 'other' }
];

function chooseCategory() {
  return new Promise((resolve) => wx.showActionSheet({
    itemList: CATEGORIES.map((c) => c.label),
    success: (res) => resolve(CATEGORIES[res.tapIndex]),
    fail: () => resolve(null)
  }));
}

// Report the task's result; resolves true when the report was filed.
async function reportTask(taskId) {
  if (!taskId) return false;
  const category = await chooseCategory();
  if (!category) return false;
  try {
    await request({ path: '/api/v1/reports', method: 'POST', data: { job_id: taskId, category: category.value } });
    wx.showToast({ title: '已收到举报，我们会尽快处理', icon: 'none' });
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

module.exports = { CATEGORIES, reportTask };
