#!/usr/bin/env bash
# The BDH GPU benchmark (issue 6), for a session that has the GPU machine: nonlin's Vulkan build
# training BDH at the official default config (batch 32 x 512 bytes; parallel and chunked
# attention) and generating with the recurrent form, beside the official PyTorch code
# (torch.compile bf16, eager bf16, eager fp32; the official `generate`) on the same GPU.
# Tokens per second and peak GPU memory (nvidia-smi sampled every 100 ms while nonlin runs;
# torch.cuda.max_memory_allocated for PyTorch) go to $OUT (default ./bdh-gpu-results).
#
# Prepare here (the GPU machine cannot download or build fast):
#   cargo build --release -p nonlin-cli --features vulkan     # about 17 minutes on 2 cores
#   strip and gzip the binary; carry Debian's libvulkan1 (docs/performance.md, "GPU")
#   git clone https://github.com/pathwaycom/bdh   # the official code, for the PyTorch side
# Run there:
#   NONLIN=path/to/nonlin BDH_PY=path/to/bdh/bdh.py DATA=path/to/data \
#     benches/seq_train/gpu_bdh.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
NONLIN="${NONLIN:-nonlin}"
DEVICE="${DEVICE:-vulkan}"
OUT="${OUT:-bdh-gpu-results}"
mkdir -p "$OUT"

sample_memory() {  # peak of nvidia-smi's memory.used (MiB) while the given command runs
    local log="$1"; shift
    ( while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; sleep 0.1; done ) > "$log" &
    local sampler=$!
    "$@"
    kill "$sampler"
    sort -n "$log" | tail -1
}

# 1. nonlin training, 60 steps, parallel then chunked attention; tokens_per_s from summary.json
for form in parallel chunked; do
    chunk=0; [ "$form" = chunked ] && chunk=64
    peak=$(sample_memory "$OUT/nonlin-$form-mem.log" \
        "$NONLIN" run "$here/bdh_gpu.toml" "model.attention_chunk=$chunk" --device "$DEVICE" \
        --data-dir "${DATA:-../shared/data}" --out "$OUT/nonlin-$form")
    python3 - "$OUT/nonlin-$form/summary.json" "$peak" "$form" <<'PY' | tee -a "$OUT/nonlin.jsonl"
import json, sys
v = json.load(open(sys.argv[1]))["resources"][0]["values"]
print(json.dumps(dict(engine=f"nonlin-{sys.argv[3]}", tokens_per_s=v["tokens_per_s"],
                      ms_per_step=1e3 / v["steps_per_s"], peak_gpu_mib=float(sys.argv[2]))))
PY
done

# 2. nonlin generation with the recurrent form: 512 new bytes after an 8-byte prompt
start=$(date +%s.%N)
"$NONLIN" generate "$OUT/nonlin-parallel" --prompt "To be or" --tokens 512 --top-k 3 \
    --device "$DEVICE" > "$OUT/nonlin-generate.txt"
end=$(date +%s.%N)
python3 -c "import json; print(json.dumps(dict(engine='nonlin-generate-recurrent', new_tokens=512, tokens_per_s=512 / ($end - $start), note='includes loading the model')))" \
    | tee -a "$OUT/nonlin.jsonl"

# 3. the official PyTorch code on the same GPU
python3 "$here/torch_bdh_gpu.py" --bdh "${BDH_PY:?set BDH_PY to the official bdh.py}" | tee "$OUT/torch.jsonl"
