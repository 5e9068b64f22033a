"""``lowrank reproduce [--quick] --out DIR``: every table and plot of both papers, regenerated on
this machine into ``DIR/index.html`` (one self-contained file) and one CSV per section.

Sections: the proof checks' sweeps (``lowrank prove``: convergence as mu -> 0 with the bounds,
error against kappa(X) per method and precision, streaming memory), three experiments on
all-MiniLM-L6-v2's real activations (per-layer table, held-out error with too few tokens, sentence
embeddings after compressing every layer) and the deep low-rank dynamics (invariant singular
values, compressed against full trajectories, speed). ``--quick`` shrinks every sweep (under five
minutes on two cores; what the test suite runs and checks).

The folder is written like every output of the project: into a staging folder beside ``DIR``,
then swapped in whole; a run that fails leaves the previous report untouched."""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import sys
import time
from typing import List

from .report import Section, write_html

SECTIONS = ("prove", "real_layers", "heldout", "end_to_end", "dynamics", "dynamics_speed", "deep_lora")
MARKER = ".lowrank-output"


def _log(quiet: bool):
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        if not quiet:
            print(f"reproduce [{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)
    return log


class _Refused(Exception):
    """Refused options or output location: exit 2, nothing written (the README's exit-code table)."""


class _Staging:
    """DIR written as one transaction (as core/output.hpp does for the C++ commands): a staging
    folder beside it, swapped in by rename at the end; DIR is replaced only if lowrank wrote it."""

    def __init__(self, out: str):
        self.out = os.path.abspath(out)
        parent = os.path.dirname(self.out)
        if os.path.exists(self.out):
            if not os.path.isdir(self.out):
                raise _Refused(f"--out {out} exists and is not a folder")
            if os.listdir(self.out) and not os.path.exists(os.path.join(self.out, MARKER)):
                raise _Refused(f"--out {out} is a non-empty folder that lowrank did not write; "
                               f"choose another or empty it")
        os.makedirs(parent, exist_ok=True)
        self.tmp = os.path.join(parent, f".{os.path.basename(self.out)}.tmp-{os.getpid()}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp)  # fails now, before any work, if the location is not writable
        open(os.path.join(self.tmp, MARKER), "w").close()

    def commit(self) -> None:
        old = None
        if os.path.exists(self.out):
            old = self.out + f".old-{os.getpid()}"
            os.rename(self.out, old)
        os.rename(self.tmp, self.out)
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def parse(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lowrank reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", "-o", required=True, help="output folder (index.html and one CSV per section)")
    p.add_argument("--quick", action="store_true", help="shrink every sweep (under 5 minutes on 2 cores; run by CI)")
    p.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    a = p.parse_args(argv)
    a.only = [s for s in a.only.split(",") if s]
    for s in a.only:
        if s not in SECTIONS:
            p.error(f"--only: unknown section {s!r} (sections: {', '.join(SECTIONS)})")
    return a


class _Terminated(BaseException):
    pass


def main(argv: List[str] = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)

    def on_term(signum, frame):
        raise _Terminated()
    signal.signal(signal.SIGTERM, on_term)
    try:
        return _run(a)
    except KeyboardInterrupt:
        print("reproduce: interrupted (SIGINT); the previous report, if any, is untouched", file=sys.stderr)
        return 130
    except _Terminated:
        print("reproduce: terminated (SIGTERM); the previous report, if any, is untouched", file=sys.stderr)
        return 143
    except _Refused as e:
        print(f"reproduce: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"reproduce: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 4


def _run(a: argparse.Namespace) -> int:
    log = _log(a.quiet)
    want = a.only or list(SECTIONS)
    stage = _Staging(a.out)
    q = " --quick" if a.quick else ""

    def cmd(section: str) -> str:
        return f"lowrank reproduce{q} --only {section} --out {shlex.quote(a.out)}"

    t0 = time.perf_counter()
    sections: List[Section] = []
    try:
        import numpy as np
        np.random.seed(0)
        if "prove" in want:
            from . import theory
            log("proof checks (lowrank prove --quick --only convergence --only fp-model)")
            sections += theory.prove_sections(stage.tmp, a.quick, cmd("prove"), log)
        real = [s for s in ("real_layers", "heldout", "end_to_end", "deep_lora") if s in want]
        if real:
            from . import real as R
            data = R.capture(2048 if a.quick else 8192, 1024 if a.quick else 4096, log)
            if "real_layers" in want:
                log("real layers: every method, float64 and float32")
                layers = ([f"b{b}.{k}" for b in (0, 3) for k in ("q", "o", "up", "down")] if a.quick else data.layers)
                sections.append(R.real_layers(data, layers, 0.25, cmd("real_layers"), log))
            if "heldout" in want:
                log("held-out error against calibration size")
                fr = (0.25, 0.5, 1.0, 2.0, 4.0) if a.quick else (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
                sections.append(R.heldout(data, "b3.o", fr, cmd("heldout"), log))
            if "end_to_end" in want:
                log("end to end: compress every layer, embed held-out sentences")
                # ('limit' equals coala here: every real X has full rank; see real_layers.)
                keeps = (0.5,) if a.quick else (0.8, 0.5, 0.3)
                meths = ("svd(W)", "coala", "svd-llm") if a.quick else ("svd(W)", "coala", "svd-llm", "svd-llm-v2",
                                                                       "pinv", "damped")
                sections.append(R.end_to_end(data, keeps, meths, 128 if a.quick else 1000, "float32",
                                             cmd("end_to_end"), log, tokens=None if a.quick else 4096))
        if "dynamics" in want:
            from . import paper2
            log("deep low-rank dynamics: invariant singular values, full against compressed")
            sections.append(paper2.invariance(cmd("dynamics"), log, steps=600 if a.quick else 1500))
        if "dynamics_speed" in want:
            from . import paper2
            log("deep low-rank dynamics: speed")
            sections.append(paper2.speed((100, 200) if a.quick else (250, 500, 1000), 20 if a.quick else 50,
                                         cmd("dynamics_speed"), log))
        if "deep_lora" in want:
            from . import paper2
            log("Deep LoRA against LoRA with few samples, on real activations")
            sections.append(paper2.deep_lora(data.x("b3.o"), data.x_test("b3.o"), "b3.o", 96,
                                             (8, 32) if a.quick else (4, 8, 16, 32, 64), 2000 if a.quick else 10000,
                                             cmd("deep_lora"), log))
        for s in sections:
            s.write_csv(stage.tmp)
            if s.plot_png:
                with open(os.path.join(stage.tmp, s.key + ".png"), "wb") as f:
                    f.write(s.plot_png)
        meta = {"generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})",
                "mode": "quick" if a.quick else "full", "wall time": f"{time.perf_counter() - t0:.0f} s",
                "command": "lowrank reproduce" + q + " --out " + a.out}
        intro = ("Both papers' claims, regenerated on this machine by <code>lowrank reproduce</code>: COALA "
                 "(Parkina &amp; Rakhuba, NeurIPS 2025) on synthetic sweeps with certified references and on the "
                 "real activations of all-MiniLM-L6-v2, and the compressible dynamics of deep low-rank "
                 "factorizations (Yaras et al., ICML 2024). Each section has its CSV, its plot, a reading written "
                 "from this run's numbers, the claims checked on them, and the command that regenerates it.")
        write_html(stage.tmp, "lowrank reproduce: both papers' claims on this machine", intro, sections, meta)
        stage.commit()
    except BaseException:
        stage.abort()
        raise
    held = sum(c.holds for s in sections for c in s.claims)
    total = sum(len(s.claims) for s in sections)
    log(f"wrote {os.path.join(a.out, 'index.html')}: {len(sections)} sections, {held} of {total} claims hold")
    print(f"{held} claims hold, {total - held} do not ({len(sections)} sections): {os.path.join(a.out, 'index.html')}")
    return 0
