#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (tests/fuzz/seeds/<target>/): valid and
invalid .npy files, and case.json + reference.json pairs of small committed corpus cases with
broken variants. Run from anywhere; the output is deterministic.

Not written here: seeds/npy_fuzz/corpus_<sha1>, the 141 inputs that added coverage in a 30-minute
libFuzzer run of npy_fuzz (2026-12-06, 40.4 million executions, no finding), kept by
`npy_fuzz -merge=1` so that CI's 60-second runs start from that coverage (536 edges)."""
import json, os, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "..", "..", "data", "corpus")
out_npy = os.path.join(here, "seeds", "npy_fuzz")
out_case = os.path.join(here, "seeds", "case_fuzz")
os.makedirs(out_npy, exist_ok=True)
os.makedirs(out_case, exist_ok=True)


def npy(descr, fortran, shape, data, version=1, pad=True):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    pre = 10 if version == 1 else 12
    if pad:
        d += " " * ((64 - (pre + len(d) + 1) % 64) % 64)
    d += "\n"
    head = b"\x93NUMPY" + bytes([version, 0])
    head += struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d))
    return head + d.encode() + data


f8 = struct.pack("<6d", 1, 2, 3, 4, 5, 6)
f4 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
seeds = {
    "c_f8_2x3": npy("<f8", False, "(2, 3)", f8),
    "f_f8_2x3": npy("<f8", True, "(2, 3)", f8),
    "c_f4_3x2": npy("<f4", False, "(3, 2)", f4),
    "v2_f8": npy("<f8", False, "(3, 2)", f8, version=2),
    "v3_f4": npy("<f4", False, "(6,)", f4, version=3),
    "scalar": npy("<f8", False, "()", struct.pack("<d", 7)),
    "empty_0x3": npy("<f8", False, "(0, 3)", b""),
    "nan": npy("<f8", False, "(2, 3)", struct.pack("<6d", 1, 2, float("nan"), 4, 5, 6)),
    "inf_f4": npy("<f4", True, "(3, 2)", struct.pack("<6f", 1, 2, 3, float("inf"), 5, 6)),
    "big_endian": npy(">f8", False, "(2, 3)", f8),
    "int64": npy("<i8", False, "(2, 3)", f8),
    "3d": npy("<f8", False, "(1, 2, 3)", f8),
    "huge_shape": npy("<f8", False, "(1099511627776, 1099511627776)", f8),
    "overflow_shape": npy("<f8", False, "(9223372036854775807, 2)", f8),
    "negative_shape": npy("<f8", False, "(-2, 3)", f8),
    "truncated": npy("<f8", False, "(2, 3)", f8[:20]),
    "extra": npy("<f8", False, "(2, 3)", f8 + b"\0" * 8),
    "unpadded": npy("<f8", False, "(2, 3)", f8, pad=False),
    "bad_magic": b"\x93NUMPZ" + npy("<f8", False, "(2, 3)", f8)[6:],
    "short": b"\x93NUM",
    "header_len_past_end": b"\x93NUMPY\x01\x00\xff\xff{'descr'",
    "no_dict": npy("<f8", False, "(2, 3)", f8).replace(b"{", b"[", 1),
    "double_quotes": npy("<f8", False, "(2, 3)", f8).replace(b"'", b'"'),
}
for name, b in seeds.items():
    open(os.path.join(out_npy, name + ".npy"), "wb").write(b)
# A few real corpus files (small ones), as the generator writes them.
for case, f in [("well_conditioned_16", "W.npy"), ("single_token_N1_r4", "X.npy"), ("invalid_truncated_x", "X.npy"),
                ("f32_cond_1e03", "W.npy")]:
    p = os.path.join(corpus, case, f)
    if os.path.getsize(p) <= 16384:
        open(os.path.join(out_npy, case + "_" + f), "wb").write(open(p, "rb").read())

sep = b"\n--reference--\n"
for case in ["well_conditioned_16"]:
    cj = open(os.path.join(corpus, case, "case.json"), "rb").read()
    rj = open(os.path.join(corpus, case, "reference.json"), "rb").read()
    open(os.path.join(out_case, case), "wb").write(cj + sep + rj)
    open(os.path.join(out_case, case + "_no_reference"), "wb").write(cj)
    c, r = json.loads(cj), json.loads(rj)
    variants = {
        "rank_string": (dict(c, rank="4"), r),
        "rank_huge": (dict(c, rank=10**12), r),
        "mu_negative": (dict(c, mu=-1.0), r),
        "files_traversal": (dict(c, files={"W": "../W.npy", "X": 5}), r),
        "objective_not_number": (c, dict(r, objective="abc")),
        "singular_values_object": (c, dict(r, singular_values={"a": 1})),
        "w_star_missing": (c, dict(r, files={})),
        "kappa_string": (c, dict(r, kappa_structured="1e3")),
    }
    for name, (cc, rr) in variants.items():
        open(os.path.join(out_case, case + "_" + name), "wb").write(
            json.dumps(cc).encode() + sep + json.dumps(rr).encode())
open(os.path.join(out_case, "not_json"), "wb").write(b"{rank: 4" + sep + b"[")
print("seeds:", len(os.listdir(out_npy)), "npy,", len(os.listdir(out_case)), "case")
