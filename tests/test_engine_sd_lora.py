"""The sd-lora engine's real loading and inference code on tiny random models built here (CPU, 2 steps)."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from support import hopper_photo  # noqa: E402

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


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A diffusers folder (SD1.5 img2img architecture, random weights) and a random LoRA with a manifest."""
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    root = tmp_path_factory.mktemp("sd")
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


def config_for(models, **overrides):
    return {"SD_MODEL_DIR": str(models / "base"), "SD_ARCH": "sd15", "SD_LORA_DIR": str(models / "loras"),
            "SD_FIXED_STYLE": "", "SD_LCM_LORA": "", "SD_STEPS": 2, "SD_STRENGTH": 0.6, "SD_GUIDANCE": 7.0,
            "SD_SIZE": 64, "SD_DEVICE": "cpu", **overrides}


@pytest.fixture(scope="module")
def classic():
    from backend.engines.sticker_classic import ClassicStickerEngine

    return ClassicStickerEngine()


@pytest.fixture(scope="module")
def engine(models, classic):
    from backend.engines.sticker_sd_lora import SdLoraStickerEngine

    return SdLoraStickerEngine.from_config(config_for(models), classic=classic)


@pytest.fixture(scope="module")
def crop():
    return np.asarray(hopper_photo()[100:356, 120:376])


def test_loads_through_the_real_loader(engine):
    assert type(engine.pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    assert engine.pipe.get_list_adapters()["unet"] == ["tiny"]
    assert engine.adapters_for() == (["tiny"], [1.0])


def test_sticker_is_seeded_and_cut_out(engine, classic):
    photo = hopper_photo()
    first = engine.generate(image=photo, style="sd", text="开心大笑", seed=7)
    second = engine.generate(image=photo, style="sd", text="开心大笑", seed=7)
    other = engine.generate(image=photo, style="sd", text="开心大笑", seed=8)
    assert first.image.shape[2] == 4 and first.image[0, 0, 3] == 0  # transparent around the cut-out
    assert np.array_equal(first.image, second.image)
    assert not np.array_equal(first.image, other.image)
    # other styles are the embedded engine's
    assert engine.generate(image=photo, style="panda").caption_box == classic.generate(image=photo, style="panda").caption_box


def test_lora_changes_output_and_weight_zero_restores_base(engine, crop):
    with_lora = engine.img2img(crop, "a face", seed=3, adapters=(["tiny"], [1.0]))
    weight_zero = engine.img2img(crop, "a face", seed=3, adapters=(["tiny"], [0.0]))
    engine.pipe.disable_lora()
    base = engine.img2img(crop, "a face", seed=3)
    engine.pipe.enable_lora()
    assert np.abs(with_lora.astype(int) - base.astype(int)).mean() > 0.5
    assert np.abs(weight_zero.astype(int) - base.astype(int)).max() <= 1


def test_fused_matches_unfused(models, classic, crop):
    from backend.engines.sticker_sd_lora import SdLoraStickerEngine

    unfused = SdLoraStickerEngine.from_config(config_for(models), classic=classic)
    expected = unfused.img2img(crop, "a face", seed=5, adapters=(["tiny"], [1.0]))
    fused = SdLoraStickerEngine.from_config(config_for(models, SD_FIXED_STYLE="tiny"), classic=classic)
    assert fused.fixed == "tiny" and not fused.pipe.get_list_adapters()
    got = fused.img2img(crop, "a face", seed=5)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 2


def test_prompt_from_chinese_caption():
    from backend.engines.sticker_sd_lora import english_prompt

    assert "laughing happily" in english_prompt("开心大笑")
    assert "crying" in english_prompt("好难过") and "sad" in english_prompt("好难过", "sad")
    assert english_prompt("收到") == "portrait of a person"


def test_missing_lora_file_is_a_clear_error(models, tmp_path, classic):
    from backend.engines.sticker_sd_lora import SdLoraStickerEngine

    (tmp_path / "manifest.json").write_text(json.dumps([{"name": "gone", "file": "gone.safetensors"}]))
    with pytest.raises(FileNotFoundError, match="gone.safetensors"):
        SdLoraStickerEngine.from_config(config_for(models, SD_LORA_DIR=str(tmp_path)), classic=classic)


@pytest.fixture(scope="module")
def sd_stack(models, tmp_path_factory):
    """A stack whose worker runs sd-lora (tiny model, CPU) as its pinned sticker engine."""
    from support import Stack

    with Stack(tmp_path_factory.mktemp("sd-stack"), VOXMOJI_WORKER_ENGINES="sticker:sd-lora", SD_MODEL_DIR=str(models / "base"),
               SD_LORA_DIR=str(models / "loras"), SD_DEVICE="cpu", SD_STEPS="2", SD_SIZE="64",
               VOXMOJI_WORKER_CONCURRENCY="1") as stack:
        yield stack


def test_style_sd_through_the_stack(sd_stack):
    import base64
    import io
    import time

    import requests
    from PIL import Image

    from support import Api, encode_image

    ready = requests.get(sd_stack.base_url + "/readyz", timeout=10).json()
    assert [worker["engines"]["sticker"]["name"] for worker in ready["workers"]] == ["sd-lora"]
    assert ready["routing"]["sticker"]["chosen"] == "sd-lora"
    api = Api(sd_stack.base_url, f"sd-{time.monotonic_ns()}")
    photo = base64.b64encode(encode_image(hopper_photo())).decode()
    answer = api.post("/api/v1/emoji?wait=20", json={"image": photo, "style": "sd", "text": "开心大笑"})
    assert answer.status_code in (200, 202), answer.text
    task = api.wait_task(answer.json()["task_id"], timeout=120)
    assert task["status"] == "succeeded" and task["engine"] == "sd-lora" and task["cost"] == 2
    image = Image.open(io.BytesIO(requests.get(task["image_url"], timeout=30).content))
    assert image.size == (512, 512) and image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0
    again = api.post("/api/v1/emoji", json={"image": photo, "style": "sd", "text": "开心大笑"}).json()
    assert again["cached"] is True  # seeded, so cacheable
    panda = api.post("/api/v1/emoji?wait=20", json={"image": photo, "style": "panda", "text": "熊猫"})
    assert api.wait_task(panda.json()["task_id"])["status"] == "succeeded"  # other styles still served


def test_swap_on_an_sd_lora_worker(sd_stack):
    """/api/v1/swap is served by a worker whose sticker engine is sd-lora (it used to fail engine_failed)."""
    import base64
    import io
    import time

    import requests
    from PIL import Image

    from support import Api, astronaut_photo, encode_image

    api = Api(sd_stack.base_url, f"sd-swap-{time.monotonic_ns()}")
    source = base64.b64encode(encode_image(hopper_photo())).decode()
    target = base64.b64encode(encode_image(astronaut_photo())).decode()
    answer = api.post("/api/v1/swap?wait=20", json={"source_image": source, "target_image": target})
    assert answer.status_code in (200, 202), answer.text
    task = api.wait_task(answer.json()["task_id"], timeout=120)
    assert task["status"] == "succeeded" and task["engine"] == "sd-lora", task
    image = Image.open(io.BytesIO(requests.get(task["image_url"], timeout=30).content))
    assert image.size == (512, 512)  # the target photo's size
    on_template = api.post("/api/v1/swap?wait=20", json={"source_image": source, "template_id": "astronaut"})
    assert api.wait_task(on_template.json()["task_id"], timeout=120)["status"] == "succeeded"
