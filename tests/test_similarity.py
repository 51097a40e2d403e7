"""Speaker similarity (result.similarity): Resemblyzer's speaker encoder read from its wheel and run in numpy
(backend/engines/speaker_encoder.py), checked against torch running the same weights on the same frames."""
import pickle

import numpy as np
import pytest
import torch
from media_samples import espeak_speech, reference_voice

from backend.engines import speaker_encoder


@pytest.fixture(scope="module")
def state():
    return speaker_encoder.read_legacy_checkpoint(speaker_encoder.weights_path())["model_state"]


@pytest.fixture(scope="module")
def encoder(state):
    return speaker_encoder.SpeakerEncoder(state)


def test_the_checkpoint_reads_like_torch_load(state):
    expected = torch.load(speaker_encoder.weights_path(), map_location="cpu", weights_only=True)["model_state"]
    assert set(state) == set(expected)
    for name, tensor in expected.items():
        np.testing.assert_array_equal(state[name], tensor.numpy(), err_msg=name)


def test_the_numpy_encoder_matches_torchs_lstm(state, encoder):
    weights = {name: torch.from_numpy(value) for name, value in state.items()}
    lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
    lstm.load_state_dict({name[5:]: value for name, value in weights.items() if name.startswith("lstm.")})
    linear = torch.nn.Linear(256, 256)
    linear.load_state_dict({name[7:]: value for name, value in weights.items() if name.startswith("linear.")})
    wav = speaker_encoder.preprocess(reference_voice(180.0), 16000)
    mels = np.stack([speaker_encoder.mel_frames(wav)[start:start + 160] for start in (0, 60)])
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(mels))
        expected = torch.nn.functional.normalize(torch.relu(linear(hidden[-1])), dim=1).numpy()
    np.testing.assert_allclose(encoder.forward(mels), expected, atol=1e-5)


def test_a_weights_file_naming_other_code_is_refused(tmp_path):
    forged = tmp_path / "forged.pt"
    forged.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(1001) + pickle.dumps({})
                       + b"cos\nsystem\n(S'echo owned'\ntR.")
    with pytest.raises(pickle.UnpicklingError, match="refusing os.system"):
        speaker_encoder.read_legacy_checkpoint(forged)


def test_mel_filters_have_librosas_shape():
    filters = speaker_encoder.mel_filters()
    assert filters.shape == (40, 201) and (filters >= 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[0] <= 2 and peaks[-1] >= 180  # low to high, 0 Hz to 8 kHz
    # Slaney normalisation: every filter has the same area in Hz (2 / bandwidth times its triangle)
    areas = filters.sum(axis=1) * (8000 / 200)
    assert np.allclose(areas[5:], areas[5:].mean(), rtol=0.2)


def test_the_same_speaker_scores_higher_than_another(encoder):
    a = reference_voice(200.0)
    same = reference_voice(200.0, text="ni3 hao3, jin1 tian1 tian1 qi4 zhen1 hao3, wo3 men5 qu4 gong1 yuan2.")
    other = reference_voice(110.0, formant_shift=0.88)
    same_score = speaker_encoder.similarity(a, 16000, same, 16000, encoder)
    other_score = speaker_encoder.similarity(a, 16000, other, 16000, encoder)
    assert 0.85 < same_score <= 1.0 and other_score < same_score - 0.05
    # the rate does not matter: the same audio at 24 kHz scores like at 16 kHz
    from scipy.signal import resample_poly

    at_24k = resample_poly(same, 3, 2).astype(np.float32)
    assert abs(speaker_encoder.similarity(a, 16000, at_24k, 24000, encoder) - same_score) < 0.02


# -- what the score means (backend/voice_similarity.py, calibrated by bench/similarity_calibration.py) ----------

def test_the_calibration_file_is_consistent():
    from backend import voice_similarity

    data = voice_similarity.calibration()
    assert 0 < data["thresholds"]["unlike"] < data["thresholds"]["close"] < 1
    assert data["logistic"]["slope"] > 0  # a higher score is never less likely the same speaker
    scores = np.linspace(0, 1, 101)
    probabilities = [voice_similarity.same_speaker_probability(s) for s in scores]
    assert all(0 <= p <= 1 for p in probabilities) and probabilities == sorted(probabilities)
    assert voice_similarity.band(0.0) == "unlike" and voice_similarity.band(1.0) == "close"
    assert voice_similarity.BANDS == {"close": "很像", "somewhat": "有点像", "unlike": "不像"}


@pytest.mark.parametrize("score", [0.551, 0.589, 0.57, 0.62])
def test_what_an_unrelated_voice_scores_reads_unlike(score):
    """The figures of issue 22: another person's recording (0.551), plain espeak (0.589) and espeak-world's
    results (0.57-0.62) against one reference voice; the raw cosine showed them as 「相似度 58%」."""
    from backend import voice_similarity

    described = voice_similarity.describe(score)
    assert described["similarity_band"] == "unlike" and described["similarity_label"] == "不像"
    assert described["similarity_calibrated"] < 0.05


def test_a_same_speaker_pair_reads_close_and_another_speaker_unlike(encoder):
    from backend import voice_similarity

    a = reference_voice(200.0)
    same = reference_voice(200.0, text="ni3 hao3, jin1 tian1 tian1 qi4 zhen1 hao3, wo3 men5 qu4 gong1 yuan2.")
    other = espeak_speech("wo3 men5 jin1 tian1 qu4 gong1 yuan2 wan2.", voice="cmn-latn-pinyin+klatt4")
    assert voice_similarity.band(speaker_encoder.similarity(a, 16000, same, 16000, encoder)) == "close"
    assert voice_similarity.band(speaker_encoder.similarity(a, 16000, other, 16000, encoder)) == "unlike"
