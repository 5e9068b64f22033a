"""COALA in NumPy (Parkina & Rakhuba, NeurIPS 2025, Algorithms 1-2): QR and SVD only, nothing inverted."""
import numpy as np

from npy_cli import run


def coala(W, X, r, mu=0.0):
    n = W.shape[1]
    R = np.linalg.qr(X, mode="r")                      # R^T R = X^T X; the Gram matrix is never formed
    R = np.vstack([R, np.zeros((n - R.shape[0], n), R.dtype)])      # fewer tokens than features: pad
    if mu > 0:                                         # P_mu: R_mu = qr_R([R; sqrt(mu) I])
        R = np.linalg.qr(np.vstack([R, np.sqrt(mu) * np.eye(n, dtype=R.dtype)]), mode="r")
    U = np.linalg.svd(W @ R.T, full_matrices=False)[0]
    A = U[:, :r]
    return A, A.T @ W                                  # W' = U_r U_r^T W


if __name__ == "__main__":
    run(coala)
