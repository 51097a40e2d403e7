"""Stand-in for the `funasr` package (modelscope/FunASR): `AutoModel(model=..., device=..., **kwargs)` and
`AutoModel.generate(input, input_len=None, progress_callback=None, **cfg)` with the real signatures, returning
what the real model returns for SenseVoice (`[{"key", "text"}]`, the text with `<|zh|><|NEUTRAL|>...` tags).

It cannot hear: what a recording "says" is looked up by the SHA-256 of the file it is given, in the JSON file
that FUNASR_STANDIN_TRANSCRIPTS names (a test writes what its recording says there); anything else is heard as
no speech, as a real recognizer hears a tone. Like the real AutoModel, it refuses a model directory without
model.pt and config.yaml."""
import hashlib
import json
import os
from pathlib import Path

__version__ = "1.2.7-standin"


class AutoModel:
    def __init__(self, **kwargs):
        model = Path(kwargs["model"])
        for name in ("model.pt", "config.yaml"):
            if not (model / name).exists():
                raise FileNotFoundError(f"{model / name} not found")
        self.model_path = str(model)
        self.kwargs = kwargs

    def generate(self, input, input_len=None, progress_callback=None, **cfg):  # noqa: A002 - the real name
        data = Path(input).read_bytes()
        table = os.environ.get("FUNASR_STANDIN_TRANSCRIPTS")
        heard = json.loads(Path(table).read_text()) if table and Path(table).exists() else {}
        text = heard.get(hashlib.sha256(data).hexdigest(), "")
        language = cfg.get("language", "auto")
        return [{"key": Path(input).stem, "text": f"<|{'zh' if language == 'auto' else language}|><|NEUTRAL|>"
                                                  f"<|Speech|><|woitn|>{text}"}]
