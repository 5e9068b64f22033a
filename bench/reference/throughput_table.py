#!/usr/bin/python3
"""Turns the JSON of bench_reference_throughput into the markdown table of
bench/results/reference_throughput.md (medians over the repetitions, CPU time).

    build/bench/reference/bench_reference_throughput --benchmark_out=ref.json --benchmark_out_format=json
    /usr/bin/python3 bench/reference/throughput_table.py ref.json
"""
import json
import sys

LABELS = {
    "BM_mpfr_fma_dot": ("MPFR limit", "acc = fma(x_i, y_i, acc), preallocated mpfr_t", None),
    "BM_mpfr_fma_axpy": ("MPFR limit", "y_i = fma(a, x_i, y_i)", None),
    "BM_mpfr_mul_add": ("MPFR limit", "t = x_i y_i; acc += t (mpfr_mul + mpfr_add)", None),
    "BM_qr_inplace_mpfr": ("QR", "ReferenceBackend::stack_r (in-place Householder on mpfr_t)", "2mn^2 - 2n^3/3"),
    "BM_qr_eigen_mpreal": ("QR", "Eigen::HouseholderQR<mpreal> (the previous stack_r)", "2mn^2 - 2n^3/3"),
    "BM_svd_reference": ("SVD", "ReferenceBackend::svd = Golub-Kahan-Reinsch on the in-place MPFR kernels, thin U, V", "14mn^2 + 8n^3"),
    "BM_svd_eigen_bdc": ("SVD", "Eigen::BDCSVD<mpreal> (the previous reference SVD), thin U, V", "14mn^2 + 8n^3"),
    "BM_svd_eigen_jacobi": ("SVD", "Eigen::JacobiSVD<mpreal>, thin U, V", "14mn^2 + 8n^3"),
    "BM_gemm_eigen_mpreal": ("GEMM", "Eigen C = A B over mpreal (BDCSVD's D&C kernel)", "2n^3"),
}


def main(path):
    with open(path) as f:
        data = json.load(f)
    ctx = data["context"]
    calibration = float(ctx["fma_limit_flop_per_s"])
    rows = {}
    for b in data["benchmarks"]:
        agg = b.get("aggregate_name")
        if agg not in (None, "median"):
            continue
        name = b["run_name"].split("/")[0]
        n = b["run_name"].split("/")[1] if b["run_name"].count("/") and b["run_name"].split("/")[1].isdigit() else ""
        key = (name, n)
        if agg == "median" or key not in rows:
            rows[key] = b
    # The limit: the dot kernel's median over its repetitions in this run (the start-up calibration,
    # one short measurement, is printed beside it: on a shared machine it can be off by tens of %).
    dot = rows.get(("BM_mpfr_fma_dot", ""))
    limit = dot["flop/s"] if dot else calibration
    print("MPFR %s, %s bits; limit = 2 x the median mpfr_fma rate of the dot kernel in this run = %.1f Mflop/s "
          "(start-up calibration: %.1f); %s; times are thread CPU time, medians over the repetitions." %
          (ctx.get("mpfr_version", "?"), ctx.get("mpfr_bits", "?"), limit / 1e6, calibration / 1e6,
           data["context"]["date"]))
    print()
    print("| kind | what | n (m = n) | flop formula | CPU time | Mflop/s | fraction of the fma limit |")
    print("|---|---|---|---|---|---|---|")
    for (name, n), b in rows.items():
        kind, what, formula = LABELS.get(name, ("?", name, None))
        unit = b.get("time_unit", "ns")
        t = b["cpu_time"]
        tstr = "%.3g %s" % (t, unit) if formula else "%.3g ns / %s" % (t, "512 ops")
        print("| %s | %s | %s | %s | %s | %.1f | %.0f%% |" % (
            kind, what, n or "-", formula or "2 per multiply-add", tstr,
            b["flop/s"] / 1e6, 100 * b["flop/s"] / limit))


if __name__ == "__main__":
    main(sys.argv[1])
