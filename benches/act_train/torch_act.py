"""Reference timing of an MLP training step with a (learnable) activation in PyTorch, for the
side-by-side benchmark `benches/act_train`.

Usage:
    python3 torch_act.py --activation relu|polyrelu|polynorm|crrelu [--widths 784,512,512,10]
        [--batch 128] [--threads 1] [--steps 200]

Same job as nonlin's side: inputs uniform in [0, 1), labels uniform in 0..classes, 8 pre-made
batches cycled, cross-entropy, Adam lr 1e-3, 20 warm-up steps, then the median over 5 windows of
steps/5; every step reads the loss back (`.item()`). One activation module per hidden layer.

The activations follow the papers' definitions as nonlin implements them (and the official PolyCom
code, `BryceZhuo/PolyCom`): PolyReLU(x) = sum_i w[r-i] relu(x)^i + b, PolyNorm(x) =
sum_i w[r-i] N(x^i) + b with N(v) = v / sqrt(mean(v^2, last axis) + 1e-6), w = 1/3 (r = 3),
b = 0; CRReLU(x) = relu(x) + eps x exp(-x^2/2), eps = 0.01. Written in plain PyTorch eager, as
their authors' code is. Prints one JSON line. A benchmark aid, never a test dependency.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--activation", required=True, choices=["relu", "polyrelu", "polynorm", "crrelu"])
p.add_argument("--widths", default="784,512,512,10")
p.add_argument("--batch", type=int, default=128)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=200)
a = p.parse_args()
widths = [int(w) for w in a.widths.split(",")]


class PolyReLU(nn.Module):
    def __init__(self, order=3):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(order) / order)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        r = F.relu(x)
        return self.weight[0] * r**3 + self.weight[1] * r**2 + self.weight[2] * r + self.bias


class PolyNorm(nn.Module):
    def __init__(self, order=3, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(order) / order)
        self.bias = nn.Parameter(torch.zeros(1))
        self.eps = eps

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        return (self.weight[0] * self._norm(x**3) + self.weight[1] * self._norm(x**2)
                + self.weight[2] * self._norm(x) + self.bias)


class CRReLU(nn.Module):
    def __init__(self, eps=0.01):
        super().__init__()
        self.epsilon = nn.Parameter(torch.tensor(eps))

    def forward(self, x):
        return F.relu(x) + self.epsilon * x * torch.exp(-x**2 / 2)


ACT = {"relu": nn.ReLU, "polyrelu": PolyReLU, "polynorm": PolyNorm, "crrelu": CRReLU}

torch.set_num_threads(a.threads)
g = torch.Generator().manual_seed(0)
classes = widths[-1]
batches = [(torch.rand(a.batch, widths[0], generator=g), torch.randint(0, classes, (a.batch,), generator=g))
           for _ in range(8)]
torch.manual_seed(0)
layers = []
for i in range(len(widths) - 1):
    layers.append(nn.Linear(widths[i], widths[i + 1]))
    if i < len(widths) - 2:
        layers.append(ACT[a.activation]())
model = nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
params = sum(p.numel() for p in model.parameters() if p.requires_grad)

i = [0]


def step():
    x, y = batches[i[0] % 8]
    i[0] += 1
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


first = step()
for _ in range(19):
    step()
times = []
per = max(1, a.steps // 5)
for _ in range(5):
    t = time.perf_counter()
    for _ in range(per):
        last = step()
    times.append((time.perf_counter() - t) * 1e3 / per)
print(json.dumps({
    "engine": "torch", "activation": a.activation, "threads": a.threads, "batch": a.batch,
    "widths": widths, "ms_per_step": round(statistics.median(times), 4), "loss_first": round(first, 4),
    "loss_last": round(last, 4), "params": params, "torch": torch.__version__,
}))
