#!/usr/bin/env bash
# Engine experiments behind docs/performance.md: the same step on other Burn CPU backends and with
# a different malloc configuration, each beside PyTorch eager in the same invocation.
#
# Every feature build changes burn's features, so it lives in its own target dir; building in the
# shared workspace dir would make the whole workspace rebuild burn.
#   usage: benches/mlp_train/engine_experiments.sh [rounds]   (from the repository root)
set -u
ROUNDS=${1:-3}
MAIN=${CARGO_TARGET_DIR_MAIN:-${CARGO_TARGET_DIR:-target}}
ALT=${CARGO_TARGET_DIR_ALT:-$MAIN/bench-alt}

CARGO_TARGET_DIR=$MAIN cargo build --release -p mlp_train || exit 1
for f in glibc-malloc flex-parallel ndarray cubecl-cpu; do
    if CARGO_TARGET_DIR=$ALT cargo build --release -p mlp_train --features "$f"; then
        cp "$ALT/release/mlp_train" "$ALT/mlp_train-$f"
    else
        echo "== feature $f does not build (see the error above)" >&2
        rm -f "$ALT/mlp_train-$f"
    fi
done

run() { echo "== $*" >&2; "$@" --threads 1,2 --rounds "$ROUNDS" --references torch-eager; }
run "$ALT/mlp_train-flex-parallel"
[ -x "$ALT/mlp_train-ndarray" ] && run "$ALT/mlp_train-ndarray" --backend ndarray
[ -x "$ALT/mlp_train-cubecl-cpu" ] && run "$ALT/mlp_train-cubecl-cpu" --backend cubecl-cpu

# glibc returns every freed block above its mmap threshold to the kernel, so each step's ~1 MB
# tensors are fresh zero pages again. Raising the thresholds keeps them in the heap, as mimalloc
# (the shipped allocator) does: glibc default, glibc tuned and mimalloc, back to back.
GLIBC=$ALT/mlp_train-glibc-malloc
echo "== glibc malloc defaults, thresholds raised, and mimalloc (nonlin worker only)" >&2
for round in $(seq "$ROUNDS"); do
    for t in 1 2; do
        pin=(); [ "$t" -lt "$(nproc)" ] && pin=(taskset -c 0-$((t - 1)))
        d=$("${pin[@]}" "$GLIBC" --worker backprop --threads $t)
        g=$(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=268435456 \
            "${pin[@]}" "$GLIBC" --worker backprop --threads $t)
        m=$("${pin[@]}" "$MAIN/release/mlp_train" --worker backprop --threads $t)
        e=$("${pin[@]}" python3 benches/mlp_train/torch_mlp.py --threads $t)
        echo "round $round threads $t default $d"
        echo "round $round threads $t tuned   $g"
        echo "round $round threads $t mimalloc $m"
        echo "round $round threads $t torch   $e"
    done
done
