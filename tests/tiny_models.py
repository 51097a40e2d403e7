"""Tiny stand-ins for the GPU engines' models, built in the test (no download): a random SD1.5-architecture
diffusers folder with a random LoRA, and a CosyVoice3 model directory for the stand-in `cosyvoice` package."""
import json
from pathlib import Path

import torch

STANDINS = Path(__file__).resolve().parent / "standins"
LORA_FILE = "tiny_sticker.safetensors"


def tiny_tokenizer(directory):
    """A CLIP BPE tokenizer whose vocabulary is the 256 byte symbols (no merges)."""
    from transformers import CLIPTokenizer
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {token: index for index, token in enumerate(
        ["<|startoftext|>", "<|endoftext|>", "!"] + symbols + [s + "</w>" for s in symbols])}
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=77)


def tiny_components(directory):
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, hidden_size=32, intermediate_size=37,
                                                layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                                                pad_token_id=1, vocab_size=600))
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tiny_tokenizer(directory),
            "scheduler": PNDMScheduler(skip_prk_steps=True, steps_offset=1), "safety_checker": None, "feature_extractor": None,
            "requires_safety_checker": False}


def build_sd_models(root):
    """A random SD1.5-architecture img2img folder under root/base and a random LoRA (with its manifest) under
    root/loras; returns root."""
    root.mkdir(parents=True, exist_ok=True)
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    components = tiny_components(root)
    StableDiffusionImg2ImgPipeline(**components).save_pretrained(root / "base")
    unet = components["unet"]
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    loras = root / "loras"
    StableDiffusionPipeline.save_lora_weights(
        loras, unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)),
        weight_name=LORA_FILE, safe_serialization=True)
    (loras / "manifest.json").write_text(json.dumps([
        {"name": "tiny", "file": LORA_FILE, "trigger": "vmsticker", "weight": 1.0,
         "prompt": "{subject}, chibi sticker, thick white outline"}]))
    return root


def write_cosyvoice_model_dir(directory):
    """A model directory with the files the engine checks for (the stand-in package reads only the yaml)."""
    from backend.engines.tts_cosyvoice3 import REQUIRED_FILES

    directory.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_FILES:
        (directory / name).mkdir() if name == "CosyVoice-BlankEN" else (directory / name).write_text("stand-in")
    return directory
