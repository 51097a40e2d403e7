"""The sd-lora engine's real loading and inference code on tiny random models built here (CPU, 2 steps)."""
import json

import numpy as np
import pytest
from api_client import task_of
from media_samples import hopper_photo
from tiny_models import build_sd_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A diffusers folder (SD1.5 img2img architecture, random weights) and a random LoRA with a manifest."""
    return build_sd_models(tmp_path_factory.mktemp("sd"))


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


def test_check_inputs_names_the_bad_value(engine, crop):
    with pytest.raises(ValueError, match="expression must be one of"):
        engine.generate(image=hopper_photo(), style="sd", expression="grin")
    with pytest.raises(ValueError, match="needs a photo"):
        engine.generate(image=None, style="sd")
    with pytest.raises(ValueError, match="uint8 RGB"):
        engine.check_inputs("sd", "none", hopper_photo().astype(np.float32), None)
    with pytest.raises(ValueError, match="style must be one of"):  # other styles: the embedded engine's checks
        engine.check_inputs("oil", "none", hopper_photo(), None)


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
    from stack_process import Stack

    with Stack(tmp_path_factory.mktemp("sd-stack"), VOXMOJI_WORKER_ENGINES="sticker:sd-lora", SD_MODEL_DIR=str(models / "base"),
               SD_LORA_DIR=str(models / "loras"), SD_DEVICE="cpu", SD_STEPS="2", SD_SIZE="64",
               VOXMOJI_WORKER_CONCURRENCY="1") as stack:
        yield stack


def test_style_sd_through_the_stack(sd_stack):
    import base64
    import io
    import time

    import requests
    from api_client import Api
    from media_samples import encode_image
    from PIL import Image

    ready = requests.get(sd_stack.base_url + "/readyz", timeout=10).json()
    assert [worker["engines"]["sticker"]["name"] for worker in ready["workers"]] == ["sd-lora"]
    assert ready["routing"]["sticker"]["chosen"] == "sd-lora"
    api = Api(sd_stack.base_url, f"sd-{time.monotonic_ns()}")
    photo = base64.b64encode(encode_image(hopper_photo())).decode()
    answer = api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "image": photo, "style": "sd", "text": "开心大笑"})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"], timeout=120)
    assert task["status"] == "succeeded" and task["engine"] == "sd-lora" and task["cost"] == 2
    image = Image.open(io.BytesIO(requests.get(task["image_url"], timeout=30).content))
    assert image.size == (512, 512) and image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0
    again = api.post("/api/v1/emoji", json={"face_consent": True, "image": photo, "style": "sd", "text": "开心大笑"}).json()
    assert again["cached"] is True  # seeded, so cacheable
    panda = api.post("/api/v1/emoji?wait=20", json={"face_consent": True, "image": photo, "style": "panda", "text": "熊猫"})
    assert api.wait_task(panda.json()["task_id"])["status"] == "succeeded"  # other styles still served


def test_swap_on_an_sd_lora_worker(sd_stack):
    """/api/v1/swap is served by a worker whose sticker engine is sd-lora (it used to fail engine_failed)."""
    import base64
    import io
    import time

    import requests
    from api_client import Api
    from media_samples import astronaut_photo, encode_image
    from PIL import Image

    api = Api(sd_stack.base_url, f"sd-swap-{time.monotonic_ns()}")
    source = base64.b64encode(encode_image(hopper_photo())).decode()
    target = base64.b64encode(encode_image(astronaut_photo())).decode()
    answer = api.post("/api/v1/swap?wait=20", json={"face_consent": True, "source_image": source, "target_image": target})
    task_of(answer)
    task = api.wait_task(answer.json()["task_id"], timeout=120)
    assert task["status"] == "succeeded" and task["engine"] == "sd-lora", task
    image = Image.open(io.BytesIO(requests.get(task["image_url"], timeout=30).content))
    assert image.size == (512, 512)  # the target photo's size
    on_template = api.post("/api/v1/swap?wait=20", json={"face_consent": True, "source_image": source, "template_id": "astronaut"})
    assert api.wait_task(on_template.json()["task_id"], timeout=120)["status"] == "succeeded"
