#!/usr/bin/env bash
# Issue 12's memory targets, measured with GNU time (peak resident set, kB):
#   lowrank --help                                                    (target < 30 MB)
#   solve --backend cpu --dtype float32 --block 65536 on N = 1.5e6, n = 256, r = 32:
#     1.5 GB of float32 activations                                  (target < 150 MB)
#   solve --backend reference --bits 128 on N = 2e4 of the same file: O(n^2 + block n)
# Usage: bench/memory/stream_float32.sh [BUILD] [SCRATCH]  (needs ~1.6 GB free in SCRATCH)
set -euo pipefail
build="${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}"
scratch="${2:-${TMPDIR:-/tmp}/lowrank_stream_float32}"
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
"$build/venv/bin/python" - "$scratch" <<'PY'
import sys, numpy as np
d = sys.argv[1]
N, n, m = 1_500_000, 256, 512
rng = np.random.default_rng(0)
np.save(f"{d}/W.npy", rng.standard_normal((m, n)))
X = np.lib.format.open_memmap(f"{d}/X.npy", mode="w+", dtype=np.float32, shape=(N, n))
for i in range(0, N, 1 << 16):
    k = min(1 << 16, N - i)
    X[i:i + k] = rng.standard_normal((k, n), dtype=np.float32)
X.flush(); del X
Xs = np.lib.format.open_memmap(f"{d}/X_small.npy", mode="w+", dtype=np.float32, shape=(20_000, n))
Xs[:] = np.load(f"{d}/X.npy", mmap_mode="r")[:20_000]
Xs.flush()
PY
peak() { /usr/bin/time -f "%M %e" -o "$scratch/t" "$@" >/dev/null 2>&1; read -r kb s < "$scratch/t"; echo "$((kb / 1024)) MiB, $s s"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "lowrank --help: $(peak "$build/lowrank" --help)"
echo "cpu float32, N = 1.5e6, n = 256, block 65536 ($(du -m "$scratch/X.npy" | cut -f1) MB file): $(peak "$build/lowrank" solve -W "$scratch/W.npy" -X "$scratch/X.npy" -r 32 --backend cpu --dtype float32 --block 65536 -q -o "$scratch/o1")"
echo "cpu float64, same file, block 65536: $(peak "$build/lowrank" solve -W "$scratch/W.npy" -X "$scratch/X.npy" -r 32 --backend cpu --dtype float64 --block 65536 -q -o "$scratch/o2")"
echo "reference 128 bits, N = 2e4, block 4096: $(peak "$build/lowrank" solve -W "$scratch/W.npy" -X "$scratch/X_small.npy" -r 32 --backend reference --bits 128 --block 4096 -q -o "$scratch/o3")"
