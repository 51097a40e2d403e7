// Submitting jobs and following them until they finish.
const config = require('../config.js');
const { request } = require('./request.js');
const { loadOptions, finishedStatuses } = require('./options.js');

// The server may answer a ?wait poll at once when it is busy (docs/API.md): never poll faster than this.
const MIN_POLL_MS = 1000;

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForTask(task, onProgress) {
  const finished = finishedStatuses(await loadOptions());
  let current = task;
  while (finished.indexOf(current.status) < 0) {
    if (onProgress) onProgress(current.progress || 0, current.status);
    const started = Date.now();
    current = await request({ path: '/api/v1/tasks/' + current.task_id + '?wait=' + config.pollWaitSeconds });
    const elapsed = Date.now() - started;
    if (finished.indexOf(current.status) < 0 && elapsed < MIN_POLL_MS) await pause(MIN_POLL_MS - elapsed);
  }
  if (onProgress) onProgress(100, current.status);
  if (current.status !== 'succeeded') {
    const code = (current.error && current.error.code) || 'engine_failed';
    const { messageFor } = require('./errors.js');
    throw Object.assign(new Error(messageFor(code, current.error && current.error.message)), { code: code });
  }
  return current;
}

function fileToBase64(filePath) {
  return wx.getFileSystemManager().readFileSync(filePath, 'base64');
}

module.exports = { waitForTask, fileToBase64 };
