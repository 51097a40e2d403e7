"""GPU benchmark: plain diffusers img2img vs the sd-lora engine's settings, on SD1.5-sized random weights.

Builds the SD1.5 architecture (UNet, VAE, CLIP text encoder) from configs with random weights
(no download; prompt embeddings are passed directly), then times on the same GPU:
  plain   fp16, 30 steps x strength 0.75, CFG 7.5, as a user would write it
  engine  LoRA fused, channels_last, torch.compile, LCM scheduler 4 steps x strength 0.75 (guidance 1,
          so no CFG batch), and batches of queued requests
and prints ms per 512x512 sticker, stickers/s, and the UNet FLOPs floor at the GPU's peak.
Needs a CUDA GPU: without one it says so and exits 2 (`--tiny --device cpu` only checks the code).

    python bench/gpu_sd.py --random-weights            # SD1.5-shaped, random weights: no download
    python bench/gpu_sd.py --model-dir models/stable-diffusion   # the operator's real SD1.5 folder
"""
import argparse
import statistics
import sys
import time

import torch


def build(tiny, device, dtype):
    from diffusers import AutoencoderKL, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    if tiny:
        unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=8,
                                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32)
        vae = AutoencoderKL(block_out_channels=[32, 64], latent_channels=4,
                            down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
        text = CLIPTextConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    else:  # the SD1.5 configs
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                    block_out_channels=(320, 640, 1280, 1280))
        vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], latent_channels=4,
                            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
        text = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12)
    from diffusers import PNDMScheduler

    pipe = StableDiffusionImg2ImgPipeline(unet=unet, vae=vae, text_encoder=CLIPTextModel(text), tokenizer=None,
                                          scheduler=PNDMScheduler(skip_prk_steps=True, steps_offset=1),
                                          safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def add_random_lora(pipe):
    from peft import LoraConfig

    pipe.unet.add_adapter(LoraConfig(r=16, lora_alpha=16, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]), adapter_name="sticker")


def unet_flops(pipe, batch, size, device, dtype):
    from torch.utils.flop_counter import FlopCounterMode

    latents = torch.randn(batch, 4, size // 8, size // 8, device=device, dtype=dtype)
    hidden = torch.randn(batch, 77, pipe.unet.config.cross_attention_dim, device=device, dtype=dtype)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        pipe.unet(latents, torch.tensor([500], device=device), hidden)
    return counter.get_total_flops()


def timed(run, repeats):
    run()  # warm-up (and compilation)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--random-weights", action="store_true",
                        help="build the SD1.5 architecture from configs written here, random weights (same compute)")
    source.add_argument("--model-dir", help="a local diffusers SD1.5 folder instead (nothing is downloaded)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny model: checks the code path, measures nothing")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense fp16 peak (H100 SXM: 989)")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench/gpu_sd.py needs a CUDA GPU and none is available here; no figures.", file=sys.stderr)
        sys.exit(2)
    from diffusers import LCMScheduler
    from PIL import Image

    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    size = 64 if args.tiny else 512
    if args.model_dir:
        from diffusers import StableDiffusionImg2ImgPipeline

        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(args.model_dir, torch_dtype=dtype, safety_checker=None,
                                                              local_files_only=True).to(args.device)
        pipe.set_progress_bar_config(disable=True)
    else:
        pipe = build(args.tiny, args.device, dtype)
    image = Image.new("RGB", (size, size), (200, 160, 140))
    embeds = torch.randn(1, 77, pipe.unet.config.cross_attention_dim, device=args.device, dtype=dtype)
    negative = torch.zeros_like(embeds)
    print(f"device {torch.cuda.get_device_name() if args.device.startswith('cuda') else args.device}, "
          f"{args.model_dir or ('tiny' if args.tiny else 'SD1.5-sized') + ' random weights'}, {size}x{size}")

    add_random_lora(pipe)
    plain = timed(lambda: pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, image=image, strength=0.75,
                               num_inference_steps=30, guidance_scale=7.5, output_type="np"), args.repeats)

    pipe.fuse_lora(adapter_names=["sticker"], lora_scale=1.0)
    pipe.unload_lora_weights()
    pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
    if args.device.startswith("cuda"):
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        if not args.no_compile:
            pipe.unet = torch.compile(pipe.unet, mode="max-autotune-no-cudagraphs", fullgraph=True)
            pipe.vae.decode = torch.compile(pipe.vae.decode, mode="max-autotune-no-cudagraphs")
    one = timed(lambda: pipe(prompt_embeds=embeds, image=image, strength=0.75, num_inference_steps=6,
                             guidance_scale=1.0, output_type="np"), args.repeats)
    batch = args.batch
    batched = timed(lambda: pipe(prompt_embeds=embeds.repeat(batch, 1, 1), image=[image] * batch, strength=0.75,
                                 num_inference_steps=6, guidance_scale=1.0, output_type="np"), args.repeats) / batch

    plain_steps, fast_steps = int(30 * 0.75), int(6 * 0.75)
    floor_plain = unet_flops(pipe, 2, size, args.device, dtype) * plain_steps / (args.peak_tflops * 1e12)
    floor_fast = unet_flops(pipe, 1, size, args.device, dtype) * fast_steps / (args.peak_tflops * 1e12)
    print(f"{'setting':<44}{'ms/sticker':>12}{'stickers/s':>12}{'UNet floor ms':>15}")
    for label, seconds, floor in (
        (f"plain diffusers fp16, {plain_steps} steps, CFG 7.5", plain, floor_plain),
        (f"engine: fused LoRA, LCM {fast_steps} steps, compiled", one, floor_fast),
        (f"engine, batches of {batch}", batched, floor_fast),
    ):
        print(f"{label:<44}{seconds * 1000:>12.1f}{1 / seconds:>12.2f}{floor * 1000:>15.2f}")
    print(f"speed-up vs plain: {plain / one:.1f}x single, {plain / batched:.1f}x batched")


if __name__ == "__main__":
    main()
