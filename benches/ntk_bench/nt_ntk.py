"""Empirical NTK of an MLP with neural-tangents (the reference of benches/ntk_bench).

Needs the pinned environment of ../shared/bench/README.md (neural-tangents 0.6.5 does not import
with current JAX):

    python3 -m venv ntenv && ntenv/bin/pip install "jax==0.4.23" "jaxlib==0.4.23" \
        "neural-tangents==0.6.5" "numpy<2" "scipy<1.14"

The net is stax.serial(Dense(w), Relu, Dense(w), Relu, Dense(1)) in NTK parametrisation with
W_std = 1, b_std = beta = 0.1 (nonlin's DenseNet::ntk_init), inputs N(0, 1) of dimension d. The
kernel function is jitted; the time is the median of `repeats` calls after one warm-up call, with
the result blocked on. Prints one JSON object per shape on stdout.

    python nt_ntk.py --shapes 256x64,512x128 --dim 32 --repeats 5 --implementation 3
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import neural_tangents as nt
from neural_tangents import stax


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shapes", default="256x64,512x128,1024x256,2048x512", help="WIDTHxINPUTS,...")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--implementation", type=int, default=3,
                   help="neural-tangents NtkImplementation: 1 Jacobian contraction, 2 NTK-vector products, 3 structured derivatives")
    p.add_argument("--check", action="store_true", help="also print the analytic NTK values on the unit circle")
    p.add_argument("--x64", action="store_true", help="compute in float64 (JAX's x64 mode), like nonlin")
    args = p.parse_args()
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    if args.check:
        _, _, kernel_fn = stax.serial(stax.Dense(512, W_std=1.0, b_std=0.1), stax.Relu(),
                                      stax.Dense(512, W_std=1.0, b_std=0.1), stax.Relu(),
                                      stax.Dense(512, W_std=1.0, b_std=0.1), stax.Relu(),
                                      stax.Dense(1, W_std=1.0, b_std=0.1))
        x = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
        k = kernel_fn(x, None, "ntk")
        print(json.dumps({"check": [float(k[0, 0]), float(k[0, 1]), float(k[0, 2])]}), flush=True)
    for shape in args.shapes.split(","):
        width, n = (int(v) for v in shape.split("x"))
        init_fn, apply_fn, _ = stax.serial(stax.Dense(width, W_std=1.0, b_std=0.1), stax.Relu(),
                                           stax.Dense(width, W_std=1.0, b_std=0.1), stax.Relu(),
                                           stax.Dense(1, W_std=1.0, b_std=0.1))
        key = jax.random.PRNGKey(0)
        x = jax.random.normal(key, (n, args.dim))
        _, params = init_fn(key, x.shape)
        kernel = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0,
                                             implementation=args.implementation))
        kernel(x, None, params).block_until_ready()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            kernel(x, None, params).block_until_ready()
            times.append(time.perf_counter() - start)
        times.sort()
        print(json.dumps({"width": width, "inputs": n, "seconds": times[len(times) // 2],
                          "implementation": args.implementation, "x64": args.x64,
                          "dtype": str(x.dtype), "jax": jax.__version__,
                          "neural_tangents": nt.__version__}), flush=True)


if __name__ == "__main__":
    main()
