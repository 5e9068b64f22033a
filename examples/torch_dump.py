"""Dump an nn.Linear's weight and its calibration inputs to W.npy and X.npy in the orientation this
project expects: W.npy is m x n (out x in, exactly layer.weight), X.npy is N x n, one row per token.

Not executed by the test suite: PyTorch is not installable on the machine that builds this project.
Usage, then check your own compression of that layer:

    dump_linear(model, model.layers[3].mlp.down_proj, calibration_batches, "down_proj_")
    lowrank solve --weights down_proj_W.npy --acts down_proj_X.npy --rank 256 --out ref/
    lowrank check --weights down_proj_W.npy --acts down_proj_X.npy --rank 256 --a A.npy --b B.npy
"""
import numpy as np
import torch


def dump_linear(model, layer, batches, prefix=""):
    chunks = []

    def hook(module, inputs, output):
        x = inputs[0].detach()                                  # (..., n): any batch/sequence shape
        chunks.append(x.reshape(-1, x.shape[-1]).to(torch.float32).cpu().numpy())  # tokens x n

    handle = layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        handle.remove()
    # bf16/fp16 -> float32 is exact; keep float64 if the model runs in float64.
    dt = torch.float64 if layer.weight.dtype == torch.float64 else torch.float32
    np.save(prefix + "W.npy", layer.weight.detach().to(dt).cpu().numpy())   # m x n (out x in)
    np.save(prefix + "X.npy", np.concatenate(chunks).astype(np.float64 if dt == torch.float64 else np.float32))
