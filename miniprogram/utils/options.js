// Every choice, label and limit the pages show (styles, modes, kinds, statuses, lengths, costs), from the server
// (GET /api/v1/options), loaded once per session: the pages keep no copies of the server's lists.
const { request } = require('./request.js');

let loaded = null;

function loadOptions() {
  if (!loaded) {
    loaded = request({ path: '/api/v1/options' }).then((body) => body, (error) => { loaded = null; throw error; });
  }
  return loaded;
}

// {id: label} of a list of choices.
function labels(choices) {
  const out = {};
  choices.forEach((choice) => { out[choice.id] = choice.label; });
  return out;
}

// The statuses a task does not leave.
function finishedStatuses(options) {
  return options.statuses.filter((status) => status.finished).map((status) => status.id);
}

module.exports = { loadOptions, labels, finishedStatuses };
