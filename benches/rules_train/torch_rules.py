"""PyTorch reference for `rules_train`: one MNIST-shaped minibatch of NoProp-DT and of
Mono-Forward, the same rules and shapes as nonlin's side, timed with the same protocol.

- noprop_dt: T = 10 denoising blocks (image 784 -> 128 -> 128 with ReLU; z 10 -> 128, then
  h + W_3 relu(W_2 h); concat -> 128 -> 10 logits), u_hat = softmax(block(x, z)) @ W_embed with the
  fixed one-hot W_embed, Linear_out(10 -> 10); the reversed cosine schedule (offset 0.008,
  alpha_bar clamped at 0.999); per minibatch, blocks t = 1..T in turn: z_{t-1} ~ q(z_{t-1} | y),
  z_T ~ q(z_T | y), loss = CE(Linear_out(z_T), y) + KL(const) + (T / 2) eta (SNR_t - SNR_{t-1})
  |u_hat - u_y|^2 (summed over the embedding, averaged over the batch), backward, one AdamW step
  (lr 1e-3, weight decay 1e-3) over the whole model (only the parameters with gradients move).
- mono_forward: MLP 784-1000-1000 with ReLU and projections M_0 [10, 784], M_1, M_2 [10, 1000];
  every step, each layer's local CE(a_i M_i^T, y) with the input detached, summed, one backward,
  Adam lr 1.57e-3 for the layers and the projections; the layers initialised as the reference's
  MF_MLP (kaiming-uniform for ReLU, zero biases), as nonlin's default `init = "reference"` does.

Inputs uniform in [0, 1) with random labels, 8 pre-made batches of 128 cycled; 5 warm-up
minibatches, then the median over 5 windows of steps / 5; every step reads its loss.

    python3 torch_rules.py --rule noprop_dt --threads 1 --steps 50

prints one JSON line: {"engine", "rule", "threads", "ms_per_step", "window_ms", "params",
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

BATCH, FEATURES, CLASSES = 128, 784, 10
WARMUP, WINDOWS = 5, 5


class Block(nn.Module):
    def __init__(self, d=CLASSES, width=128):
        super().__init__()
        self.image = nn.Sequential(nn.Linear(FEATURES, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.z_in, self.z_inner, self.z_out = nn.Linear(d, width), nn.Linear(width, width), nn.Linear(width, width)
        self.fuse = nn.Sequential(nn.Linear(2 * width, width), nn.ReLU())
        self.logits = nn.Linear(width, CLASSES)

    def forward(self, x, z):
        h = F.relu(self.z_in(z))
        fz = h + self.z_out(F.relu(self.z_inner(h)))
        return self.logits(self.fuse(torch.cat([self.image(x), fz], 1)))


class NopropDt(nn.Module):
    def __init__(self, blocks=10, eta=0.1, offset=0.008, max_bar=0.999):
        super().__init__()
        self.blocks = nn.ModuleList(Block() for _ in range(blocks))
        self.register_buffer("embed", torch.eye(CLASSES))
        self.output = nn.Linear(CLASSES, CLASSES)
        f = lambda s: math.cos(((s / blocks) + offset) / (1 + offset) * math.pi / 2) ** 2
        self.bars = [min(max(f(blocks - t) / f(0), 0.0), max_bar) for t in range(blocks + 1)]
        self.eta = eta

    def block_loss(self, t, x, y):
        bars, steps = self.bars, len(self.bars) - 1
        u = self.embed[y]
        sample = lambda a: u * math.sqrt(a) + torch.randn_like(u) * math.sqrt(1 - a)
        z_prev, z_last = sample(bars[t - 1]), sample(bars[steps])
        u_hat = F.softmax(self.blocks[t - 1](x, z_prev), 1) @ self.embed
        mse = (u_hat - u).pow(2).sum(1).mean()
        ce = F.cross_entropy(self.output(z_last), y)
        snr = lambda a: a / (1 - a)
        weight = 0.5 * steps * self.eta * (snr(bars[t]) - snr(bars[t - 1]))
        d = CLASSES
        kl = 0.5 * (bars[0] * u.pow(2).sum(1).mean() + d * (1 - bars[0]) - d - d * math.log(1 - bars[0]))
        return ce + kl + weight * mse


def noprop_step(model, opt):
    def step(x, y):
        total = 0.0
        for t in range(1, len(model.bars)):
            opt.zero_grad(set_to_none=True)
            loss = model.block_loss(t, x, y)
            loss.backward()
            opt.step()
            total += loss.item()
        return total / (len(model.bars) - 1)

    return step


class MonoForward(nn.Module):
    def __init__(self, widths=(FEATURES, 1000, 1000)):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.output = nn.Linear(widths[-1], CLASSES)  # unused by Mono-Forward, as in nonlin's MLP
        self.projections = nn.ParameterList(nn.Parameter(torch.empty(CLASSES, w)) for w in widths)
        for m in self.projections:
            nn.init.kaiming_uniform_(m, a=math.sqrt(5))
        # the reference's MF_MLP initialisation, which nonlin's `init = "reference"` (its default) redraws
        for layer in self.layers:
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        nn.init.normal_(self.output.weight, std=0.01)
        nn.init.zeros_(self.output.bias)

    def losses(self, x, y):
        a, out = x, []
        for i, m in enumerate(self.projections):
            if i > 0:
                a = F.relu(self.layers[i - 1](a.detach()))
            out.append(F.cross_entropy(a @ m.T, y))
        return out


def mono_step(model, opt):
    def step(x, y):
        opt.zero_grad(set_to_none=True)
        losses = model.losses(x, y)
        sum(losses).backward()
        opt.step()
        return losses[-1].item()

    return step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rule", default="noprop_dt")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.rule == "noprop_dt":
        model = NopropDt()
        step = noprop_step(model, torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3))
    elif args.rule == "mono_forward":
        model = MonoForward()
        step = mono_step(model, torch.optim.Adam(model.parameters(), lr=1.570297088405539e-3))
    else:
        raise SystemExit(f"unknown rule {args.rule}")
    g = torch.Generator().manual_seed(1)
    batches = [(torch.rand(BATCH, FEATURES, generator=g), torch.randint(0, CLASSES, (BATCH,), generator=g)) for _ in range(8)]
    first = step(*batches[0])
    for k in range(1, WARMUP):
        step(*batches[k % 8])
    window = max(args.steps // WINDOWS, 1)
    k, last, times = WARMUP, first, []
    for _ in range(WINDOWS):
        start = time.perf_counter()
        for _ in range(window):
            last = step(*batches[k % 8])
            k += 1
        times.append((time.perf_counter() - start) * 1e3 / window)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"engine": "torch-eager", "rule": args.rule, "threads": args.threads,
                      "ms_per_step": statistics.median(times), "window_ms": times, "params": params,
                      "first_loss": first, "last_loss": last}))


if __name__ == "__main__":
    main()
