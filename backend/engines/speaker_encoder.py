"""Speaker similarity, the number voice cloning is judged by: Resemblyzer's speaker encoder (GE2E, a 3-layer
LSTM over 40-band mel frames, Apache-2.0), run in numpy.

The weights are the `pretrained.pt` inside the Resemblyzer wheel (installed without its dependencies). It is
a legacy-format torch pickle; it is read here with a restricted unpickler that rebuilds only tensors and dicts
(anything else in the file is refused), so CPU workers need neither torch nor librosa nor webrtcvad. The mel
spectrogram follows librosa's defaults that Resemblyzer uses (Hann window of 25 ms, 10 ms hop, power 2, Slaney
mel filters); long silences are trimmed by frame energy instead of webrtcvad, so figures can differ slightly
from Resemblyzer's own (tests/test_similarity.py checks the encoder against torch's LSTM on the same frames).
"""
import importlib.util
import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
PARTIALS_PER_SECOND = 1.3
TARGET_DBFS = -30.0
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64,
           "IntStorage": np.int32, "HalfStorage": np.float16, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


def weights_path():
    """pretrained.pt of the installed Resemblyzer wheel (found without importing the package)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the speaker encoder needs the Resemblyzer wheel: pip install --no-deps "
                                "-r requirements/worker-nodeps.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"


# -- reading a legacy torch checkpoint without torch -----------------------------------------------

@dataclass
class _Storage:
    key: str
    dtype: type


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple


class _CheckpointUnpickler(pickle.Unpickler):
    """Rebuilds tensors as placeholders and refuses every class a weights file has no business naming."""

    def find_class(self, module, name):
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return lambda storage, offset, shape, stride, *_rest: _Tensor(storage, offset, tuple(shape), tuple(stride))
        if module == "torch" and name in _DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage" or storage_type not in _DTYPES:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[:2]!r}")
        return _Storage(key, _DTYPES[storage_type])


def read_legacy_checkpoint(path):
    """The object saved by torch.save (legacy format), with tensors as numpy arrays."""
    with open(path, "rb") as handle:
        for _header in range(3):  # magic number, protocol version, system info
            _CheckpointUnpickler(handle).load()
        tree = _CheckpointUnpickler(handle).load()
        dtypes = {}
        _collect_storages(tree, dtypes)
        storages = {}
        for key in pickle.Unpickler(handle).load():  # the storages' keys, in the order their bytes follow
            count = int(np.frombuffer(handle.read(8), "<i8")[0])
            dtype = np.dtype(dtypes.get(key, np.float32))
            storages[key] = np.frombuffer(handle.read(count * dtype.itemsize), dtype)
    return _materialize(tree, storages)


def _collect_storages(node, dtypes):
    if isinstance(node, _Tensor):
        dtypes[node.storage.key] = node.storage.dtype
    elif isinstance(node, dict):
        for value in node.values():
            _collect_storages(value, dtypes)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _collect_storages(value, dtypes)


def _materialize(node, storages):
    if isinstance(node, _Tensor):
        flat = storages[node.storage.key]
        item = flat.dtype.itemsize
        return np.lib.stride_tricks.as_strided(flat[node.offset:], node.shape,
                                               tuple(s * item for s in node.stride)).copy()
    if isinstance(node, dict):
        return {key: _materialize(value, storages) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_materialize(value, storages) for value in node)
    return node


# -- audio features --------------------------------------------------------------------------------

def _hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters(rate=RATE, n_fft=N_FFT, n_mels=N_MELS):
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney scale and area normalisation)."""
    fft_freqs = np.linspace(0, rate / 2, 1 + n_fft // 2)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), n_mels + 2))
    gaps = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / gaps[:-1, None]
    upper = ramps[2:] / gaps[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:n_mels + 2] - mel_freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


_FILTERS = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def mel_frames(wav):
    """(frames, 40) mel power spectrogram, centred frames with zero padding (librosa's defaults)."""
    padded = np.pad(wav.astype(np.float32), N_FFT // 2)
    count = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(padded, (count, N_FFT), (padded.strides[0] * HOP, padded.strides[0]))
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    return (power @ _FILTERS.T).astype(np.float32)


def preprocess(samples, rate):
    """Mono float audio at 16 kHz, volume raised to -30 dBFS (never lowered), long silences trimmed."""
    wav = np.asarray(samples, dtype=np.float32)
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    if rate != RATE:
        from math import gcd

        from scipy.signal import resample_poly

        divisor = gcd(int(rate), RATE)
        wav = resample_poly(wav, RATE // divisor, int(rate) // divisor).astype(np.float32)
    rms = float(np.sqrt(np.mean(wav ** 2))) if len(wav) else 0.0
    if rms > 0:
        change = TARGET_DBFS - 20 * np.log10(rms)
        if change > 0:
            wav = wav * (10 ** (change / 20))
    return _trim_long_silences(wav)


def _trim_long_silences(wav, window=480, keep=6):
    """Drop silences longer than `keep` 30 ms windows (webrtcvad's role in Resemblyzer, done by energy)."""
    usable = len(wav) - len(wav) % window
    if usable < window * 4:
        return wav
    energy = np.sqrt(np.mean(wav[:usable].reshape(-1, window) ** 2, axis=1))
    voiced = energy > max(1e-4, 0.1 * np.median(energy[energy > 0]) if np.any(energy > 0) else 1e-4)
    kept = np.convolve(voiced.astype(float), np.ones(2 * keep + 1), "same") > 0
    return wav[:usable][np.repeat(kept, window)] if kept.any() else wav


# -- the encoder -----------------------------------------------------------------------------------

def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + e^-x), without overflow for large |x|


class SpeakerEncoder:
    """Embeds an utterance as a unit 256-vector; cosine similarity of two embeddings is the SIM figure."""

    _shared = None
    _lock = threading.Lock()

    def __init__(self, state):
        self.layers = [(state[f"lstm.weight_ih_l{i}"].T.copy(), state[f"lstm.weight_hh_l{i}"].T.copy(),
                        state[f"lstm.bias_ih_l{i}"] + state[f"lstm.bias_hh_l{i}"]) for i in range(3)]
        self.linear = (state["linear.weight"].T.copy(), state["linear.bias"])

    @classmethod
    def shared(cls):
        """One encoder per process, loaded on first use (about 70 ms)."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls(read_legacy_checkpoint(weights_path())["model_state"])
            return cls._shared

    def forward(self, mels):
        """(batch, frames, 40) -> (batch, 256): the LSTM's last hidden state, linear, ReLU, L2-normalised."""
        x = mels.astype(np.float32)
        for w_ih, w_hh, bias in self.layers:
            batch, steps, _ = x.shape
            hidden = np.zeros((batch, w_hh.shape[0]), np.float32)
            cell = np.zeros_like(hidden)
            inputs = x @ w_ih + bias
            outputs = np.empty((batch, steps, hidden.shape[1]), np.float32)
            for t in range(steps):
                gates = inputs[:, t] + hidden @ w_hh
                i, f, g, o = np.split(gates, 4, axis=1)
                cell = _sigmoid(f) * cell + _sigmoid(i) * np.tanh(g)
                hidden = _sigmoid(o) * np.tanh(cell)
                outputs[:, t] = hidden
            x = outputs
        embeds = np.maximum(0, x[:, -1] @ self.linear[0] + self.linear[1])
        return embeds / np.maximum(np.linalg.norm(embeds, axis=1, keepdims=True), 1e-9)

    def embed(self, samples, rate):
        """The utterance embedding: partial utterances of 1.6 s (1.3 per second), averaged, L2-normalised."""
        wav = preprocess(samples, rate)
        frame_step = int(round(RATE / PARTIALS_PER_SECOND / HOP))
        frames_total = int(np.ceil((len(wav) + 1) / HOP))
        starts = list(range(0, max(1, frames_total - PARTIAL_FRAMES + frame_step + 1), frame_step))
        if len(starts) > 1 and (len(wav) - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP) < 0.75:
            starts = starts[:-1]  # too little audio left for the last partial
        needed = (starts[-1] + PARTIAL_FRAMES) * HOP
        if needed >= len(wav):
            wav = np.pad(wav, (0, needed - len(wav)))
        mel = mel_frames(wav)
        partials = np.stack([mel[s:s + PARTIAL_FRAMES] for s in starts])
        mean = self.forward(partials).mean(axis=0)
        return mean / np.linalg.norm(mean)


def similarity(reference, reference_rate, result, result_rate, encoder=None):
    """Cosine of the two speakers' embeddings, clipped to 0-1."""
    encoder = encoder or SpeakerEncoder.shared()
    value = float(np.dot(encoder.embed(reference, reference_rate), encoder.embed(result, result_rate)))
    return max(0.0, min(1.0, value))
