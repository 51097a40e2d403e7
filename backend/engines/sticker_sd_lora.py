"""`sd-lora`: AI stickers with Stable Diffusion img2img and sticker LoRAs on a GPU worker.

The pipeline around the model is the embedded engine's: find the face, crop head and
shoulders, run img2img on the crop (strength keeps the person recognisable), cut the person
out with the segmentation mask and add the die-cut border; captions, the "AI生成" label and
animation follow in engines/sticker_post.py. Styles other than `sd` are served by the embedded
engine inside this one, so a GPU worker serves every style. torch and diffusers are
imported only when the engine is built.
"""
import json
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from backend.engines.face_warp import apply_expression
from backend.engines.sticker_classic import ClassicStickerEngine, die_cut
from backend.engines.sticker_output import StickerOutput
from backend.vocabulary import EXPRESSIONS

logger = logging.getLogger("voxmoji.engines.sd_lora")

NEGATIVE = "lowres, blurry, deformed face, extra limbs, watermark, text, jpeg artifacts"
# Chinese captions -> English prompt fragments (the caption itself stays Chinese).
KEYWORDS = (
    (("开心大笑", "哈哈", "大笑", "笑死"), "laughing happily, big open smile"),
    (("开心", "高兴", "快乐", "笑"), "smiling, cheerful"),
    (("惊讶", "震惊", "什么", "吓"), "surprised, wide eyes, open mouth"),
    (("生气", "愤怒", "气死", "怒"), "angry, frowning"),
    (("哭", "难过", "伤心", "委屈"), "crying, sad, tears"),
    (("加油", "冲"), "determined, fist pump"),
    (("晚安", "睡"), "sleepy, yawning"),
    (("谢谢", "感谢"), "thankful, bowing"),
    (("爱你", "喜欢", "比心"), "making a heart with hands, loving"),
    (("无语", "尴尬"), "awkward, speechless, sweat drop"),
)
EXPRESSION_WORDS = {"smile": "smiling", "laugh": "laughing", "surprise": "surprised", "angry": "angry",
                    "sad": "sad, teary"}


@dataclass(frozen=True)
class Lora:
    """A sticker LoRA from models/loras/manifest.json."""

    name: str
    file: str
    trigger: str
    weight: float
    prompt: str  # a template with {subject}


def load_manifest(directory):
    """The LoRAs listed in `<directory>/manifest.json` (empty when there is none)."""
    path = Path(directory) / "manifest.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_text())
    loras = [Lora(e["name"], e["file"], e.get("trigger", ""), float(e.get("weight", 1.0)),
                  e.get("prompt", "{subject}, sticker, flat colors, thick outline, white background")) for e in entries]
    for lora in loras:
        if not (Path(directory) / lora.file).exists():
            raise FileNotFoundError(f"LoRA {lora.name!r}: {Path(directory) / lora.file} is missing")
    return loras


def english_prompt(text, expression="none"):
    """What the caption asks for, in the English the base model understands."""
    normalized = unicodedata.normalize("NFKC", text or "")
    parts = [words for keys, words in KEYWORDS if any(key in normalized for key in keys)][:2]
    if expression in EXPRESSION_WORDS:
        parts.append(EXPRESSION_WORDS[expression])
    return ", ".join(dict.fromkeys(["portrait of a person", *parts]))


def load_pipeline(config, dtype):
    """The img2img pipeline from a diffusers folder or one .safetensors file (SD1.5 by default, SDXL by config)."""
    import diffusers

    path = Path(config["SD_MODEL_DIR"])
    if path.is_file():
        cls = (diffusers.StableDiffusionXLImg2ImgPipeline if config["SD_ARCH"] == "sdxl"
               else diffusers.StableDiffusionImg2ImgPipeline)
        return cls.from_single_file(str(path), torch_dtype=dtype, local_files_only=True,
                                    config=config.get("SD_SINGLE_FILE_CONFIG") or None)
    return diffusers.AutoPipelineForImage2Image.from_pretrained(str(path), torch_dtype=dtype, local_files_only=True)


class SdLoraStickerEngine:
    """Stable Diffusion img2img + sticker LoRAs for style `sd`; the embedded engine for the other styles."""

    name = "sd-lora"

    def __init__(self, pipe, loras, classic, *, steps=30, strength=0.5, guidance=7.0, size=512, fixed=None,
                 device="cuda"):
        self.pipe = pipe
        self.loras = {lora.name: lora for lora in loras}
        self.classic = classic
        self.steps, self.strength, self.guidance, self.size = steps, strength, guidance, size
        self.fixed = fixed
        self.device = device

    @classmethod
    def from_config(cls, config, classic=None):
        """Load the base model, the LoRAs (once), optional LCM fast mode and a fused fixed style."""
        try:
            import torch
            from diffusers import LCMScheduler
        except ImportError as error:
            raise ImportError("the sd-lora engine needs torch and diffusers (make worker ROLE=gpu, or "
                              "pip install -r requirements/gpu.txt)") \
                from error
        device = config["SD_DEVICE"]
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("SD_DEVICE is cuda but no CUDA device is available")
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        pipe = load_pipeline(config, dtype).to(device)
        pipe.set_progress_bar_config(disable=True)
        if getattr(pipe, "safety_checker", None) is None:
            logger.warning("sd-lora: no safety checker weights in %s; generated images are not screened by "
                           "the diffusers safety checker", config["SD_MODEL_DIR"])
        if device.startswith("cuda"):
            pipe.unet.to(memory_format=torch.channels_last)
        loras = load_manifest(config["SD_LORA_DIR"])
        for lora in loras:
            pipe.load_lora_weights(config["SD_LORA_DIR"], weight_name=lora.file, adapter_name=lora.name)
        steps, guidance = config["SD_STEPS"], config["SD_GUIDANCE"]
        if config.get("SD_LCM_LORA"):
            lcm = Path(config["SD_LCM_LORA"])
            pipe.load_lora_weights(str(lcm.parent), weight_name=lcm.name, adapter_name="lcm")
            pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
            steps, guidance = min(steps, 6), min(guidance, 1.5)
        fixed = config.get("SD_FIXED_STYLE") or None
        engine = cls(pipe, loras, classic or ClassicStickerEngine.from_config(config), steps=steps,
                     strength=config["SD_STRENGTH"], guidance=guidance, size=config["SD_SIZE"], fixed=fixed,
                     device=device)
        if fixed:
            engine.fuse(fixed)
        return engine

    def active_lora(self, lora_name=None):
        """The sticker LoRA a request uses: the named one, the fused one, or the first in the manifest."""
        return self.loras.get(lora_name or self.fixed) or next(iter(self.loras.values()), None)

    def adapters_for(self, lora_name=None):
        """(names, weights) active for a request: the chosen sticker LoRA, plus LCM when loaded."""
        names, weights = [], []
        lora = self.active_lora(lora_name)
        if lora is not None:
            names.append(lora.name)
            weights.append(lora.weight)
        if "lcm" in self.pipe.get_list_adapters().get("unet", []):
            names.append("lcm")
            weights.append(1.0)
        return names, weights

    def fuse(self, lora_name):
        """Bake one LoRA into the weights (a worker that serves one fixed style skips adapter overhead)."""
        lora = self.loras[lora_name]
        self.pipe.set_adapters([lora.name], adapter_weights=[lora.weight])
        self.pipe.fuse_lora(adapter_names=[lora.name], lora_scale=1.0)
        self.pipe.unload_lora_weights()
        self.fixed = lora_name

    def img2img(self, rgb, prompt, seed, adapters=None):
        """One seeded img2img pass on an RGB uint8 image; returns RGB uint8 of the same size."""
        import torch
        from PIL import Image

        height, width = rgb.shape[:2]
        scale = self.size / max(height, width)
        target = (max(64, int(round(width * scale / 8)) * 8), max(64, int(round(height * scale / 8)) * 8))
        init = Image.fromarray(rgb).resize(target, Image.Resampling.LANCZOS)
        if self.fixed is None and adapters is not None:
            names, weights = adapters
            if names:
                self.pipe.set_adapters(names, adapter_weights=weights)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        result = self.pipe(prompt=prompt, negative_prompt=NEGATIVE, image=init, strength=self.strength,
                           num_inference_steps=self.steps, guidance_scale=self.guidance, generator=generator,
                           output_type="np").images[0]
        out = (np.clip(result, 0, 1) * 255).round().astype(np.uint8)
        return cv2.resize(out, (width, height), interpolation=cv2.INTER_CUBIC)

    def check_inputs(self, style, expression, image, template):
        """Raise ValueError naming the bad value: style `sd` here, the others as the embedded engine checks them."""
        if style != "sd":
            self.classic.check_inputs(style, expression, image, template)
            return
        if expression not in EXPRESSIONS:
            raise ValueError(f"expression must be one of {EXPRESSIONS}, got {expression!r}")
        if image is None:
            raise ValueError("style 'sd' needs a photo")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 RGB, got shape {getattr(image, 'shape', None)}")

    def generate(self, *, image=None, template=None, style="sd", expression="none", face_index=None, text="",
                 seed=0):
        """Style `sd`: the face crop restyled by SD + LoRA, then cut out; other styles: the embedded engine."""
        if style != "sd":
            return self.classic.generate(image=image, template=template, style=style, expression=expression,
                                         face_index=face_index, text=text, seed=seed)
        self.check_inputs(style, expression, image, template)
        face = self.classic.find_face(image, face_index)
        image, face = apply_expression(image.copy(), face, expression)
        crop, mask, moved = self.classic.head_and_shoulders(image, face)
        names, weights = self.adapters_for()
        lora = self.active_lora()
        subject = english_prompt(text, expression)
        prompt = lora.prompt.format(subject=subject) if lora else f"{subject}, sticker, flat colors, thick outline"
        if lora and lora.trigger:
            prompt = f"{lora.trigger}, {prompt}"
        styled = self.img2img(crop, prompt, seed or 0, (names, weights))
        rgba, moved = die_cut(styled, mask, moved)
        return StickerOutput(rgba, expression, None, moved)

    def swap(self, *, source, target=None, template=None, blend=1.0, mask_blur=None, enhance=False, face_index=None):
        """Face swap, the same call as every sticker engine's: the embedded face pipeline, composed in (SD adds
        nothing to a photographic swap that would be worth its seconds)."""
        return self.classic.swap(source=source, target=target, template=template, blend=blend, mask_blur=mask_blur,
                                 enhance=enhance, face_index=face_index)
