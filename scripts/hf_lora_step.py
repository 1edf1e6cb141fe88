#!/usr/bin/env python3
"""The HF transformers + peft twin of bench/step: one LoRA training step (AdamW, r=8 on q,v) of a
randomly initialised T5 of the same shape, batch 8, source 128, target 8, dropout 0, on one GPU.
Prints one JSON line like bench/step --json. Used by scripts/gpu-check.

  scripts/hf_lora_step.py [--shape large|small] [--dtype f32|bf16] [--steps 10] [--warmup 3] [--device cuda]
"""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import T5Config, T5ForConditionalGeneration


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="large", choices=["large", "small"])
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--src", type=int, default=128)
    ap.add_argument("--tgt", type=int, default=8)
    a = ap.parse_args()
    large = a.shape == "large"
    config = T5Config(vocab_size=32128, d_model=1024 if large else 512, d_kv=64, d_ff=4096 if large else 2048,
                      num_layers=24 if large else 6, num_decoder_layers=24 if large else 6,
                      num_heads=16 if large else 8, dropout_rate=0.0, feed_forward_proj="relu",
                      tie_word_embeddings=True)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    model = model.to(a.device, dtype)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=8, target_modules=["q", "v"], lora_dropout=0.0))
    # LoRA weights in f32, as bipeft keeps them.
    for n, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4, weight_decay=1e-4)
    g = torch.Generator().manual_seed(123)
    ids = torch.randint(2, config.vocab_size, (a.batch, a.src), generator=g).to(a.device)
    mask = torch.ones(a.batch, a.src, dtype=torch.long, device=a.device)
    labels = torch.randint(2, config.vocab_size, (a.batch, a.tgt), generator=g).to(a.device)
    ms = []
    for s in range(a.warmup + a.steps):
        t = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if s >= a.warmup:
            ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    median = ms[len(ms) // 2]
    print(json.dumps({"impl": "hf-transformers+peft", "shape": a.shape, "device": a.device, "dtype": a.dtype,
                      "median_ms": round(median, 1), "min_ms": round(ms[0], 1), "max_ms": round(ms[-1], 1),
                      "tokens_per_s": round(a.batch * (a.src + a.tgt) / (median / 1e3)), "steps": len(ms),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
