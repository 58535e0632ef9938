"""PyTorch references for `seq_train`: one training step of the small BDH and of the matched GPT
of `experiments/papers/bdh.toml`, timed with the same protocol as nonlin's side.

BDH follows the official forward pass (pathwaycom/bdh, bdh.py: shared parameters, ReLU lifts,
strictly causal linear attention with RoPE over the neurons, affine-free layer norms); the GPT is
a pre-norm transformer (no biases, untied head, learned positions, GELU feed-forward of 4 d,
causal softmax attention through `scaled_dot_product_attention`). Both are written here for the
benchmark; AdamW lr 1e-3, weight decay 0.1; batches of 8 x 64 random bytes, 8 pre-made batches
cycled; 10 warm-up steps, then the median over 5 windows of steps / 5; every step reads the loss.

    python3 torch_seq.py --model bdh --threads 1 --steps 100 [--compile]

prints one JSON line: {"engine", "model", "threads", "ms_per_step", "window_ms", "params",
"first_loss", "last_loss"}.
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH, CONTEXT, VOCAB = 8, 64, 256


class Bdh(nn.Module):
    def __init__(self, layers=4, d=32, heads=4, multiplier=16, theta=2.0**16):
        super().__init__()
        n = multiplier * d // heads
        self.layers, self.heads, self.n = layers, heads, n
        normal = lambda *shape: nn.Parameter(torch.randn(*shape) * 0.02)
        self.embed = nn.Embedding(VOCAB, d)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.encoder = normal(heads, d, n)
        self.encoder_v = normal(heads, d, n)
        self.decoder = normal(heads * n, d)
        self.lm_head = normal(d, VOCAB)
        pair = (torch.arange(n) // 2 * 2).float()
        self.register_buffer("freqs", 1.0 / theta ** (pair / n) / (2 * math.pi))

    def rotate(self, v):
        t = v.shape[-2]
        turns = torch.arange(t, dtype=torch.float32).view(-1, 1) * self.freqs
        angle = (turns % 1) * (2 * math.pi)
        swapped = torch.stack((-v[..., 1::2], v[..., ::2]), dim=-1).view(v.shape)
        return v * angle.cos() + swapped * angle.sin()

    def forward(self, idx):
        b, t = idx.shape
        ln = lambda x: F.layer_norm(x, x.shape[-1:])
        x = ln(self.embed(idx)).unsqueeze(1)
        for _ in range(self.layers):
            xs = F.relu(x @ self.encoder)
            q = self.rotate(xs)
            a = (q @ q.mT).tril(diagonal=-1) @ x
            xy = xs * F.relu(ln(a) @ self.encoder_v)
            y = xy.transpose(1, 2).reshape(b, 1, t, -1) @ self.decoder
            x = ln(x + ln(y))
        return x.view(b, t, -1) @ self.lm_head


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, bias=False)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d, bias=False)
        self.up = nn.Linear(d, 4 * d, bias=False)
        self.down = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        heads = lambda z: z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, layers=4, d=32, heads=4):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.randn(CONTEXT, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d, bias=False)
        self.head = nn.Linear(d, VOCAB, bias=False)

    def forward(self, idx):
        x = self.embed(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["bdh", "gpt"], required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Bdh() if args.model == "bdh" else Gpt()
    params = sum(p.numel() for p in model.parameters())
    step_model = torch.compile(model) if args.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, VOCAB, (BATCH, CONTEXT + 1), generator=gen) for _ in range(8)]

    def step(k):
        data = batches[k % len(batches)]
        logits = step_model(data[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), data[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    first = step(0)
    for k in range(1, 10):
        step(k)
    window = max(1, args.steps // 5)
    times, k, last = [], 10, first
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(window):
            last = step(k)
            k += 1
        times.append((time.perf_counter() - start) * 1e3 / window)
    print(json.dumps(dict(
        engine="torch-compile" if args.compile else "torch-eager",
        model=args.model, threads=args.threads, ms_per_step=statistics.median(times),
        window_ms=times, params=params, first_loss=first, last_loss=last,
    )))


if __name__ == "__main__":
    main()
