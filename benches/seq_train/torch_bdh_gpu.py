"""The PyTorch side of the BDH GPU benchmark: the official code (pathwaycom/bdh `bdh.py`, pass its
path) at its default config, batch 32 x 512 random bytes, AdamW 1e-3 weight decay 0.1, in three
modes (torch.compile bf16 autocast, eager bf16 autocast, eager fp32): tokens per second over
`--steps` steps after `--warmup` and the peak GPU memory (`torch.cuda.max_memory_allocated`);
then the official `generate` (which re-runs the whole prefix for every token): new tokens per
second for `--new-tokens` tokens after an 8-byte prompt, top-k 3.

    python3 torch_bdh_gpu.py --bdh /path/to/bdh/bdh.py [--steps 50] [--warmup 10]

prints one JSON line per measurement.
"""

import argparse
import importlib.util
import json
import time

import torch
import torch.nn.functional as F


def load(path):
    spec = importlib.util.spec_from_file_location("bdh", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(bdh, mode, steps, warmup, batch, context):
    torch.manual_seed(1337)
    torch.cuda.reset_peak_memory_stats()
    model = bdh.BDH(bdh.BDHConfig()).cuda()
    step_model = torch.compile(model) if mode == "compile-bf16" else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    dtype = torch.float32 if mode == "eager-fp32" else torch.bfloat16
    data = torch.randint(0, 256, (8, batch, context + 1), device="cuda")

    def step(k):
        x = data[k % 8]
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            _, loss = step_model(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for k in range(warmup):
        step(k)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for k in range(steps):
        loss = step(k)
    loss = loss.item()
    elapsed = time.perf_counter() - start
    return dict(
        engine=f"torch-{mode}", tokens_per_s=steps * batch * context / elapsed,
        ms_per_step=elapsed * 1e3 / steps, peak_gpu_gb=torch.cuda.max_memory_allocated() / 1e9,
        last_loss=loss,
    )


def generate(bdh, new_tokens):
    torch.manual_seed(1337)
    model = bdh.BDH(bdh.BDHConfig()).cuda().eval()
    prompt = torch.tensor([list(b"To be or")], device="cuda")
    model.generate(prompt, max_new_tokens=8, top_k=3)
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.generate(prompt, max_new_tokens=new_tokens, top_k=3)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return dict(engine="torch-generate-official", new_tokens=new_tokens, tokens_per_s=new_tokens / elapsed)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bdh", required=True)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--modes", default="compile-bf16,eager-bf16,eager-fp32")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    bdh = load(args.bdh)
    for mode in args.modes.split(","):
        print(json.dumps(train(bdh, mode, args.steps, args.warmup, 32, 512)), flush=True)
    print(json.dumps(generate(bdh, args.new_tokens)), flush=True)


if __name__ == "__main__":
    main()
