// The one emotion vocabulary of stickers and voices (GET /api/v1/emotions), loaded once per session.
const { request } = require('./request.js');

let loaded = null;

function loadEmotions() {
  if (!loaded) {
    loaded = request({ path: '/api/v1/emotions' }).then((body) => body.emotions, (error) => { loaded = null; throw error; });
  }
  return loaded;
}

// Picker choices: a first "none/auto" choice, then every emotion by its Chinese name.
function emotionChoices(emotions, firstLabel) {
  return [{ label: firstLabel, value: '' }].concat(emotions.map((e) => ({ label: e.name, value: e.emotion })));
}

module.exports = { loadEmotions, emotionChoices };
