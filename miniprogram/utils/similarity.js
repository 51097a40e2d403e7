// What a voice result's similarity means to the user: the band the server calibrated (docs/similarity.md),
// never the raw cosine, which reads about 58% even for an unrelated voice.
const BUILTIN_ENGINE = 'espeak-world';

// { similarity: '音色接近度：不像' or '', similarityNote: a plain warning for the built-in voice or '' }
function describeSimilarity(task) {
  const result = (task && task.result) || {};
  const label = typeof result.similarity_label === 'string' ? result.similarity_label : '';
  return {
    similarity: label ? '音色接近度：' + label : '',
    similarityNote: task && task.engine === BUILTIN_ENGINE ? '这是内置合成音，不是你的声音' : '',
  };
}

module.exports = { describeSimilarity };
