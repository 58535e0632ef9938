"""Reference timing of a KAN training step in PyTorch: efficient-kan (Blealtan/efficient-kan) and
pykan (KindXiaoming/pykan), for the side-by-side benchmark `benches/kan_train`.

Usage:
    python3 kan_reference.py --engine efficient-kan|pykan --widths 2,5,1 --batch 1000
        [--threads 1] [--steps 300] [--grid 5] [--order 3] [--efficient-kan PATH]

Same job as nonlin's side: inputs uniform in [-1, 1), targets uniform in [-1, 1) (one per output),
8 pre-made batches cycled, mean squared error, Adam lr 1e-3, 20 warm-up steps, then the median
over 5 windows of steps/5 steps; every step reads the loss back (`.item()`).

efficient-kan is imported from `--efficient-kan` (the folder that holds the `efficient_kan`
package, e.g. a checkout's `src/`) or from an installed copy; pykan from `pip install pykan`,
with `model.speed()` (no symbolic branch, no saved activations), as its authors advise for
training loops. Prints one JSON line. A benchmark aid, never a test dependency.
"""
import argparse
import json
import statistics
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--engine", required=True, choices=["efficient-kan", "pykan"])
p.add_argument("--widths", default="2,5,1")
p.add_argument("--batch", type=int, default=1000)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=300)
p.add_argument("--grid", type=int, default=5)
p.add_argument("--order", type=int, default=3)
p.add_argument("--efficient-kan", dest="efficient_kan")
a = p.parse_args()
widths = [int(w) for w in a.widths.split(",")]

import torch

torch.set_num_threads(a.threads)
g = torch.Generator().manual_seed(0)
batches = [
    (torch.rand(a.batch, widths[0], generator=g) * 2 - 1, torch.rand(a.batch, widths[-1], generator=g) * 2 - 1)
    for _ in range(8)
]
torch.manual_seed(0)
if a.engine == "efficient-kan":
    if a.efficient_kan:
        sys.path.insert(0, a.efficient_kan)
    from efficient_kan import KAN

    model = KAN(widths, grid_size=a.grid, spline_order=a.order)
    version = "efficient-kan@7b6ce1c"
else:
    import io
    import contextlib

    import kan as pykan
    from kan import KAN

    with contextlib.redirect_stdout(io.StringIO()):  # pykan prints checkpoint notices
        model = KAN(width=list(widths), grid=a.grid, k=a.order, seed=0, auto_save=False, device="cpu")
        model.speed()
    version = "pykan " + getattr(pykan, "__version__", "0.2.8")
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
params = sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_step(x, y):
    opt.zero_grad(set_to_none=True)
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    return loss.item()


i = [0]


def step():
    x, y = batches[i[0] % 8]
    i[0] += 1
    return train_step(x, y)


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
    "engine": a.engine, "threads": a.threads, "batch": a.batch, "widths": widths,
    "ms_per_step": round(statistics.median(times), 4), "loss_first": round(first, 4),
    "loss_last": round(last, 4), "params": params, "torch": torch.__version__, "version": version,
}))
