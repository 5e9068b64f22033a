#!/usr/bin/env bash
# Regenerates bench/results/cpu.md (and cpu_bench.txt, cpu_raw.json): the CPU backend's benchmark
# (bench/cpu/bench_cpu.cpp: streaming TSQR vs in-memory geqrf vs syrk+potrf; end-to-end COALA vs
# svd-llm), medians over REPS repetitions, plus peak memory of `lowrank solve --backend cpu` at two
# N a factor 10 apart. Usage: scripts/bench_cpu.sh   (env: REPS=3, LOWRANK_BUILD_DIR=build-cpu,
# LOWRANK_BENCH_QUICK=1 for a smoke run on small shapes, LOWRANK_BENCH_LARGE=1 adds n = 4096).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${LOWRANK_BUILD_DIR:-$here/build-cpu}"
reps="${REPS:-3}"
out="$here/bench/results"
py=/usr/bin/python3   # the one with numpy
mkdir -p "$out"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j1 --target bench_cpu lowrank >/dev/null
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$build/bench/cpu/bench_cpu" --benchmark_repetitions="$reps" --benchmark_out="$tmp/raw.json" \
  --benchmark_out_format=json > "$tmp/bench.txt"

# Peak memory independent of N: the same solve at N = 8n and N = 80n (n = 512), each its own process.
n=512
"$py" - "$tmp" "$n" <<'PY'
import sys, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(5)
np.save(f"{d}/W.npy", rng.standard_normal((n, n)))
for f in (8, 80):
    np.save(f"{d}/X{f}.npy", rng.standard_normal((f * n, n)) * np.logspace(0, -3, n))
PY
# The process's own baseline (static initialization of every linked library, OpenBLAS buffers).
/usr/bin/time -f "%M" -o "$tmp/baseline_kb" "$build/lowrank" --help >/dev/null
for f in 8 80; do
  for dt in float64 float32; do
    "$build/lowrank" solve -W "$tmp/W.npy" -X "$tmp/X$f.npy" -r $((n / 4)) --backend cpu --dtype $dt --block 4096 \
      --out "$tmp/o_${f}_$dt" -q
  done
done

"$py" - "$tmp" "$out" "$reps" "$n" <<'PY'
import sys, json, re, platform, subprocess, datetime
tmp, out, reps, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
txt = open(f"{tmp}/bench.txt").read()
table = txt[txt.index("# MAGMA-style"):].strip()
rows = {}
for line in table.splitlines()[2:]:
    m = re.match(r"(\S+)\s+(\S+)\s+(.+?)\s{2,}\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s*(.*)", line)
    if m:
        notes = dict(re.findall(r"(t_\w+)=([\d.e+-]+)", m.group(7)))
        rows[(m.group(1), m.group(2), m.group(3).strip())] = (float(m.group(4)), float(m.group(5)), float(m.group(6)),
                                                              {k: float(v) for k, v in notes.items()})
lines = []
lines.append("# CPU backend benchmark (CpuBackend, LAPACK/OpenBLAS)\n")
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
lines.append(f"Machine: 2-core shared VM ({cpu}, {subprocess.run(['nproc'],capture_output=True,text=True).stdout.strip()} cores, no GPU), "
             f"OpenBLAS 0.3 (pthreads, 2 threads), shared with other jobs while measured: medians of {reps} repetitions, "
             f"dgemm peak measured in the same run. Generated {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC by scripts/bench_cpu.sh.\n")
lines.append("Shapes scaled to this machine: n = 1024, 2048; N = 8n, 64n (64n only at n = 1024: at n = 2048 one in-memory")
lines.append("geqrf of 64n x n would hold 2 GiB and run for minutes on 2 cores); m = n and m = 2.7n; r = n/4.")
lines.append("n = 4096 (N = 8n, m = n, float64 and float32) only with LOWRANK_BENCH_LARGE=1 (X is 1 GiB; about 3 minutes a")
lines.append("repetition); float32 rows are judged against the sgemm peak.\n")
lines.append("## Targets (issue 12, item 8)\n")
for (g, name, shape), (t, gf, peak, _) in rows.items():
    if g == "qr" and name == "tsqr-stream(b=4096)":
        lap = rows.get(("qr", "tsqr-lapack-tpqrt(b=4096)", shape))
        geq = rows.get(("qr", "geqrf-in-memory", shape))
        syrk = rows.get(("qr", "syrk+potrf", shape))
        extra = []
        if lap: extra.append(f"LAPACK ?tpqrt {lap[1]:.1f} GFLOP/s ({lap[0] / t:.2f}x the time of the recursive panel)")
        if geq: extra.append(f"in-memory geqrf {geq[1]:.1f} GFLOP/s")
        if syrk: extra.append(f"{t / syrk[0]:.2f}x the time of syrk+potrf")
        lines.append(f"- streaming TSQR, {shape}: {gf:.1f} GFLOP/s = **{peak:.0f}% of the dgemm peak** (target >= 80%; "
                     + "; ".join(extra) + ")")
for (g, name, shape), (t, gf, peak, _) in rows.items():
    if g == "values" and name.startswith("svd-values-2stage"):
        one = rows.get(("values", name.replace("2stage", "gesdd"), shape))
        dt = "float32" if name.endswith("-f32") else "float64"
        if one:
            lines.append(f"- rank of X (values-only SVD of R), {dt}, {shape}: two-stage {t:.3f} s vs ?gesdd {one[0]:.3f} s "
                         f"= **{one[0] / t:.2f}x faster** (used from n = 1024 on)")
for (g, name, shape), (t, gf, peak, notes) in rows.items():
    if g == "e2e" and name in ("coala", "coala-f32"):
        dt = "float32" if name.endswith("-f32") else "float64"
        ref = rows.get(("e2e", name.replace("coala", "svd-llm"), shape))
        if ref:
            lines.append(f"- COALA vs svd-llm wall time, {dt}, {shape}: {t:.3f} s vs {ref[0]:.3f} s = **{t / ref[0]:.2f}x** "
                         f"(target <= 1.2x where the SVD dominates, N = 8n)")
        core = notes.get("t_accumulate", 0) + notes.get("t_svd", 0)
        if core > 0:
            lines.append(f"- COALA total vs TSQR + SVD, {dt}, {shape}: {t:.3f} s vs {notes.get('t_accumulate', 0):.3f} + "
                         f"{notes.get('t_svd', 0):.3f} s = **{t / core:.2f}x** (target <= 1.25x; rank of X "
                         f"{notes.get('t_x_rank', 0):.3f} s, report {notes.get('t_report', 0):.3f} s)")
lines.append("")
base = int(open(f"{tmp}/baseline_kb").read().split()[-1]) * 1024
lines.append(f"Peak memory of `lowrank solve --backend cpu --block 4096` (own process each; n = {n}, m = {n}, r = {n//4}).")
lines.append(f"For scale: `lowrank --help` alone peaks at {base/2**20:.1f} MiB (static initialization of the libraries linked")
lines.append("into `lowrank`), so almost all of the peak below is the binary's baseline, not the data; what matters is that")
lines.append("it does not grow with N (X grows 10x):\n")
lines.append("| dtype | N | X on disk | peak RSS | bytes held by the accumulation | accumulate s |")
lines.append("|---|---|---|---|---|---|")
for dt in ("float64", "float32"):
    for f in (8, 80):
        j = json.load(open(f"{tmp}/o_{f}_{dt}/report.json"))
        N = j["shape"]["N"]
        lines.append(f"| {dt} | {N} | {N*n*8/2**20:.0f} MiB | {j['peak_rss_bytes']/2**20:.1f} MiB | "
                     f"{j['extra']['accumulate_bytes']/2**20:.2f} MiB | {j['seconds']['accumulate']:.3f} |")
lines.append("")
lines.append("## Full table (medians)\n")
lines.append("```")
lines.append(table)
lines.append("```")
open(f"{out}/cpu.md", "w").write("\n".join(lines) + "\n")
open(f"{out}/cpu_bench.txt", "w").write(txt)
print("\n".join(lines))
PY
cp "$tmp/raw.json" "$out/cpu_raw.json"
