"""COALA written the way the authors' PyTorch code is written (Parkina & Rakhuba, NeurIPS 2025):
calibration activations arrive in chunks, each chunk is stacked under the running triangular factor
and re-factored (a flat TSQR, torch.linalg.qr(torch.cat([R, X_chunk])) per chunk), in the working
precision of the activations (float32 in practice: run with --float32); then R_mu, the SVD of W R^T
and W' = U_r U_r^T W. A correct implementation: it must PASS every valid case of the corpus."""
import numpy as np

from npy_cli import run

CHUNK = 64  # tokens per chunk (a small batch of sequences)


def coala_tsqr(W, X, r, mu=0.0):
    n = W.shape[1]
    R = np.zeros((0, n), dtype=W.dtype)
    for start in range(0, X.shape[0], CHUNK):
        R = np.linalg.qr(np.vstack([R, X[start:start + CHUNK]]), mode="r")
    R = np.vstack([R, np.zeros((n - R.shape[0], n), R.dtype)])
    if mu > 0:
        R = np.linalg.qr(np.vstack([R, np.sqrt(np.asarray(mu, W.dtype)) * np.eye(n, dtype=W.dtype)]), mode="r")
    U = np.linalg.svd(W @ R.T, full_matrices=False)[0]
    A = U[:, :r]
    return A, A.T @ W


if __name__ == "__main__":
    run(coala_tsqr)
