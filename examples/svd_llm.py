"""SVD-LLM's whitening formula in NumPy (Wang et al. 2024, SVDLLM.py `whitening`), with its fallback."""
import numpy as np

from npy_cli import run


def svd_llm(W, X, r, mu=0.0):
    n = W.shape[1]
    G = X.T @ X + mu * np.eye(n, dtype=X.dtype)       # Gram matrix: squares the condition number
    try:
        S = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:                      # SVD-LLM's fallback: shift by -lambda_min + 1e-6
        G = G + (-np.linalg.eigvalsh(G)[0] + 1e-6) * np.eye(n, dtype=G.dtype)
        S = np.linalg.cholesky(G)
    U, s, Vt = np.linalg.svd(W @ S, full_matrices=False)
    h = np.sqrt(s[:r])
    return U[:, :r] * h, (h[:, None] * Vt[:r]) @ np.linalg.inv(S)   # explicit inverse, as SVD-LLM


if __name__ == "__main__":
    run(svd_llm)
