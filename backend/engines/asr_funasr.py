"""`funasr`: speech recognition with FunASR (SenseVoice-Small or Paraformer-zh, from the same group as CosyVoice),
used to check that a consent recording says its sentence.

The operator puts the model directory (ASR_MODEL_DIR: `model.pt` and `config.yaml`, as exported by ModelScope) on
the worker and installs the `funasr` package; nothing is downloaded (`disable_update`, no hub lookups). It runs
on CPU (the default: a few seconds of speech take well under a second) or on a GPU (ASR_DEVICE=cuda)."""
import re
from pathlib import Path

REQUIRED_FILES = ("model.pt", "config.yaml")
_TAG = re.compile(r"<\|[^|]*\|>")  # SenseVoice's language, emotion and event tags


def missing_files(model_dir):
    """The files a FunASR model directory lacks (empty when it is complete)."""
    return [name for name in REQUIRED_FILES if not (Path(model_dir) / name).exists()]


class FunAsrRecognizer:
    """One model per worker process; `transcribe` takes a 16 kHz mono WAV file and returns its text."""

    def __init__(self, model_dir, device="cpu"):
        from funasr import AutoModel

        self.model = AutoModel(model=str(model_dir), device=device, disable_update=True)

    @classmethod
    def from_config(cls, config):
        return cls(config["ASR_MODEL_DIR"], config.get("ASR_DEVICE", "cpu"))

    def transcribe(self, wav_path):
        """The text spoken in the recording, without SenseVoice's tags ("" for no speech)."""
        from funasr.utils.postprocess_utils import rich_transcription_postprocess

        results = self.model.generate(input=str(wav_path), cache={}, language="zh", use_itn=False, batch_size_s=60)
        text = "".join(result.get("text", "") for result in results or [])
        return _TAG.sub("", rich_transcription_postprocess(text)).strip()
