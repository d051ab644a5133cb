"""SK_RS and SK_kRSB: trainable hidden layers on a first layer that is the Hamiltonian (physics.md §4).

For site i, with the first layer (weights W = J unless learnt)

    φ'_i = Σ_{s<i} W_si x_s,          c_il = Σ_{s<i} W_sl x_s   (l > i)          (physics.md §3)

the conditional logit is

    logit_i = a_i + w_i φ'_i + Σ_{l ∈ L_i} [ g⁺_il(c_il) + g⁻_il(c_il) ]
    g_il(c) = w0_il · logσ( b1_il + w1_il · logσ( b2_il + … logσ( b{k+1}_il + w{k+1}_il · c ) … ) )

with k + 1 nested logσ layers (k = 0 is SK_RS, k = 1 is SK_1RSB) and separate parameters for the
+ and − branches (physics.md §4). ``L_i`` is the set of future spins that get hidden units:

* **dense**: every l > i, so ``2(2k+3)`` parameters per pair plus ``a_i, w_i`` per site, i.e.
  ``(2k+3)·N(N−1) + 2N`` (N = 100: 29,900 / 49,700 / 69,500 for k = 0, 1, 2);
* **frontier** (sparse systems, physics.md §4 last paragraph): only the future spins already
  coupled to a drawn spin, ``F_i = {l > i : ∃ s < i, W_sl ≠ 0}``. For l ∉ F_i the first layer
  gives c_il ≡ 0, so g_il(c_il) = g_il(0) is a constant that a_i absorbs: the frontier network
  is the same function family as the dense one on that system, with ``2(2k+3)·Σ_i |F_i| + 2N``
  parameters. With m_l = min{s : W_sl ≠ 0}, ``l ∈ F_i ⇔ m_l < i < l``.

First layer: a fixed buffer holding J on the structural pairs (N(N−1)/2 numbers dense, one per
edge on the frontier; counted by ``num_fixed_params``), or, with ``learn_first_layer=True``, a
trainable strictly-upper-triangular W (``W_sl`` for s < l; every pair when dense, only the graph's
edges when frontier), initialised small and random — not to J — for the paper's "weights vs
couplings" experiment. Those weights add N(N−1)/2 (dense) or |E| (frontier) trainable parameters.

Initialisation (for training from scratch): every weight normal with standard deviation
``init_scale/N`` (the paper's code uses 1/N), every bias zero, so q starts close to uniform (the
infinite-temperature solution) and REINFORCE starts with small, well-scaled gradients.

Speed (physics.md §3, fact 3; numbers from ``benchmarks/speed.py``). Two backends compute the same
function (the tests check values, gradients and samples against each other):

* **fused C kernels** (default on the CPU, float32/float64; built once with gcc, loaded with
  ctypes). The teacher-forced pass walks the sites in order for a block of 64 samples at a time,
  keeping the fields c_·l in a cache-resident (N, 64) buffer that reading spin i updates by one
  row of W — the exclusive cumulative sum of ``x_s W_s,:`` done incrementally, O(N²) per sample
  dense and O(N·|F|) on the frontier — and evaluates each pair's nested logσ in registers: no
  (B, N, N) tensor, no Python loop over sites. The backward is one more such sweep that
  recomputes the chain (nothing is stored) and accumulates the learnt first layer's gradient
  from running sums. The sampler is the same sweep with draws; ``log_prob`` of the samples it
  just returned reuses its pair sums while neither samples nor parameters have changed.
* **torch operations** (CUDA, or no compiler): every c_il of a batch from one exclusive
  cumulative sum over s of ``x_s W_sl`` (dense) or a gather over each target's few neighbours
  (frontier), in batch chunks that are recomputed in backward (checkpointing) to bound memory;
  the sampler loops over sites and updates c incrementally, ``c_{i+1,l} = c_il + W_il x_i``.

Layout: the pairs (i, l ∈ L_i) are packed site by site into one vector per parameter tensor (so
``num_params`` is exactly the count above, via :meth:`SKkRSB.pairs`). The torch path folds the
per-site segments two by two — a long one with a short one, e.g. sites i and N−1−i when dense —
into R rows of width M, so it works on a (B, R, M) tensor with (almost) no padding.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .base import ARNN
from .registry import ArchitectureSpec, OptionSpec, register_architecture

__all__ = ["SKkRSB", "sk_frontier_sizes", "sk_krsb_param_count", "SK_MAX_K", "kernel_status"]

#: Largest number of RSB steps offered (k + 1 nested logσ layers).
SK_MAX_K = 4

#: Torch path: elements of the per-chunk intermediates above which ``logits`` splits the batch into
#: checkpointed chunks (CPU: stays near the caches; a GPU takes 16× more per chunk).
_CHUNK_ELEMENTS = 4_000_000
_CUDA_CHUNK_FACTOR = 16


# ---------------------------------------------------------------------- structure (numpy)
def _upper_edges(J: np.ndarray, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """(s, l) with s < l of the first layer: every pair when dense, else the non-zero couplings."""
    n = J.shape[0]
    if dense:
        s, l = np.triu_indices(n, k=1)
    else:
        s, l = np.nonzero(np.triu(J, k=1))
    return s.astype(np.int64), l.astype(np.int64)


def _targets(J: np.ndarray, frontier: bool) -> list[np.ndarray]:
    """L_i for every site: all l > i (dense), or the frontier F_i = {l : m_l < i < l}."""
    n = J.shape[0]
    if not frontier:
        return [np.arange(i + 1, n, dtype=np.int64) for i in range(n)]
    nz = J != 0
    has = nz.any(axis=0)
    first = np.where(has, nz.argmax(axis=0), n)  # m_l = min{s : J_sl ≠ 0}, n when isolated
    lidx = np.arange(n)
    return [np.flatnonzero((first < i) & (lidx > i)).astype(np.int64) for i in range(n)]


def _count_below(sorted_values: np.ndarray, start: np.ndarray, below: np.ndarray, column: np.ndarray) -> np.ndarray:
    """For each q: how many of ``sorted_values[start[column[q]]:start[column[q]+1]]`` are < below[q]."""
    # offset each column's (sorted) block by a column-specific shift so one searchsorted does all
    n_cols = len(start) - 1
    shift = float(max(1, int(sorted_values.max(initial=0)) + 2))
    keys = sorted_values + shift * np.repeat(np.arange(n_cols), np.diff(start))
    pos = np.searchsorted(keys, below + shift * column, side="left")
    return pos - start[column]


def sk_frontier_sizes(system) -> np.ndarray:
    """|F_i| for every site i of ``system``: the future spins coupled to a drawn spin (physics.md §4)."""
    return np.array([len(t) for t in _targets(system.J.numpy(), True)], dtype=np.int64)


def _resolve_sparse(system, sparse: str) -> bool:
    if sparse not in ("auto", "dense", "frontier"):
        raise ValueError(f"sparse must be 'auto', 'dense' or 'frontier', got {sparse!r}")
    return system.is_sparse if sparse == "auto" else sparse == "frontier"


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= SK_MAX_K:
        raise ValueError(f"k (number of RSB steps) must be an integer in 0..{SK_MAX_K}, got {k!r}")
    return int(k)


def sk_krsb_param_count(system, k: int = 1, learn_first_layer: bool = False, sparse: str = "auto",
                        init_scale: float = 1.0) -> tuple[int, int]:
    """(trainable, fixed) parameter counts of ``sk_krsb`` on ``system``, without building it.

    Dense: ``(2k+3)·N(N−1) + 2N`` trainable (+ N(N−1)/2 when the first layer is learnt, else
    N(N−1)/2 fixed). Frontier: ``2(2k+3)·Σ_i |F_i| + 2N`` (+ |E| learnt or fixed). physics.md §4.
    """
    k = _check_k(k)
    frontier = _resolve_sparse(system, sparse)
    n = system.n
    J = system.J.numpy()
    pairs = sum(len(t) for t in _targets(J, frontier))
    edges = len(_upper_edges(J, not frontier)[0])
    trainable = 2 * (2 * k + 3) * pairs + 2 * n
    if learn_first_layer:
        return trainable + edges, 0
    return trainable, edges


# ---------------------------------------------------------------------- fused CPU kernels (C)
# The teacher-forced pass, its backward and the sampler as one fused loop each (physics.md §3
# fact 3): per block of 64 samples, the fields c_·l live in a cache-resident (N, 64) buffer that
# drawing/reading spin i updates by one row of W, and the nested logσ of every pair is evaluated
# in registers (gcc vectorises exp/log through glibc's libmvec). No (B, N, N) tensor exists.
# Compiled once per machine with the system's gcc into a cache directory, loaded with ctypes;
# without gcc (or off the CPU) the torch path below is used instead — same function.
_KERNEL_SOURCE = r"""
/* Fused CPU kernels of SK_kRSB (physics.md §3-4). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define BB 64

#define DEFINE_KERNELS(T, SFX, EXP, LOG, FABS)                                                   \
/* logσ(z) = min(z, 0) − log(1 + e^{−|z|}); 1 + e^{−|z|} ∈ [1, 2], so log is as good as log1p in      \
   absolute terms (what log-probabilities need) and cheaper */                                      \
static inline T logsig_##SFX(T z) { T m = z < 0 ? z : (T)0; return m - LOG((T)1 + EXP(-FABS(z))); } \
                                                                                                    \
/* g-sum of one pair over a batch block: acc[b] += sum_br w0 * nested(c[b]) */                      \
static inline void pair_forward_##SFX(int K, int64_t P, int64_t p, int nb, const T* restrict c,    \
        const T* restrict out_w, const T* restrict bias, const T* restrict weight, T* restrict acc) \
{                                                                                                   \
    for (int br = 0; br < 2; br++) {                                                                \
        const T w0 = out_w[br * P + p];                                                             \
        const T bk = bias[((int64_t)br * K + K - 1) * P + p];                                       \
        const T wk = weight[((int64_t)br * K + K - 1) * P + p];                                     \
        T u[BB];                                                                                    \
        for (int b = 0; b < nb; b++) u[b] = logsig_##SFX(bk + wk * c[b]);                           \
        for (int j = K - 2; j >= 0; j--) {                                                          \
            const T bj = bias[((int64_t)br * K + j) * P + p];                                       \
            const T wj = weight[((int64_t)br * K + j) * P + p];                                     \
            for (int b = 0; b < nb; b++) u[b] = logsig_##SFX(bj + wj * u[b]);                      \
        }                                                                                           \
        for (int b = 0; b < nb; b++) acc[b] += w0 * u[b];                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* Teacher-forced pair sums (mode 0) or sampling (mode 1).                                          \
   xT (N,B): spins (input in mode 0, output in mode 1); outT (N,B): the pair sums of every site      \
   (both modes); u_draw (N,B) and log_q (B) used in mode 1 only. */                                 \
void sk_run_##SFX(int mode, int64_t N, int64_t B, int K, int64_t P, T* xT,                          \
        const int64_t* row_ptr, const int64_t* col, const T* val,                                   \
        const int64_t* seg_lo, const int64_t* seg_hi, const int64_t* target,                                                  \
        const T* out_w, const T* bias, const T* weight,                                             \
        const T* site_bias, const T* site_weight, const T* u_draw, T* outT, T* log_q, int nthreads) \
{                                                                                                   \
    const int64_t nblocks = (B + BB - 1) / BB;                                                      \
    _Pragma("omp parallel for schedule(dynamic, 1) num_threads(nthreads)")                          \
    for (int64_t blk = 0; blk < nblocks; blk++) {                                                   \
        const int64_t b0 = blk * BB;                                                                \
        const int nb = (int)((B - b0) < BB ? (B - b0) : BB);                                        \
        T* field = (T*)calloc((size_t)N * BB, sizeof(T));                                           \
        T acc[BB], xi[BB], lq[BB];                                                                  \
        for (int b = 0; b < nb; b++) lq[b] = 0;                                                     \
        for (int64_t i = 0; i < N; i++) {                                                           \
            for (int b = 0; b < nb; b++) acc[b] = 0;                                                \
            for (int64_t p = seg_lo[i]; p < seg_hi[i]; p++)                                           \
                pair_forward_##SFX(K, P, p, nb, field + target[p] * BB, out_w, bias, weight, acc);  \
            T* xrow = xT + i * B + b0;                                                              \
            if (mode == 1) {                                                                        \
                const T a = site_bias[i], w = site_weight[i];                                       \
                const T* ud = u_draw + i * B + b0;                                                  \
                for (int b = 0; b < nb; b++) {                                                      \
                    T logit = a + w * field[i * BB + b] + acc[b];                                   \
                    const T t = EXP(-FABS(logit));  /* σ(logit) without overflow (fast-math: no inf) */ \
                    T prob = logit >= 0 ? (T)1 / ((T)1 + t) : t / ((T)1 + t);                       \
                    T s = ud[b] < prob ? (T)1 : (T)-1;                                              \
                    xrow[b] = s;                                                                    \
                    lq[b] += logsig_##SFX(s * logit);                                               \
                    outT[i * B + b0 + b] = acc[b];                                                  \
                }                                                                                   \
            } else {                                                                                \
                for (int b = 0; b < nb; b++) outT[i * B + b0 + b] = acc[b];                         \
            }                                                                                       \
            for (int b = 0; b < nb; b++) xi[b] = xrow[b];                                           \
            for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; e++) {                                 \
                const T v = val[e];                                                                 \
                T* f = field + col[e] * BB;                                                         \
                for (int b = 0; b < nb; b++) f[b] += v * xi[b];                                     \
            }                                                                                       \
        }                                                                                           \
        if (mode == 1) for (int b = 0; b < nb; b++) log_q[b0 + b] = lq[b];                          \
        free(field);                                                                                \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* Backward of the teacher-forced pair sums: deltaT (N,B) = dLoss/d(pair sum of site i).            \
   Accumulates into g_out_w (2P), g_bias (2KP), g_weight (2KP) and, if g_val != NULL, the           \
   first layer's values (nnz). */                                                                   \
void sk_backward_##SFX(int64_t N, int64_t B, int K, int64_t P, const T* xT,                         \
        const int64_t* row_ptr, const int64_t* col, const T* val,                                   \
        const int64_t* seg_lo, const int64_t* seg_hi, const int64_t* target,                                                  \
        const T* out_w, const T* bias, const T* weight, const T* deltaT,                            \
        T* g_out_w, T* g_bias, T* g_weight, T* g_val, int nthreads)                                 \
{                                                                                                   \
    const int64_t nblocks = (B + BB - 1) / BB;                                                      \
    const int64_t nnz = row_ptr[N];                                                                 \
    const int64_t nparam = 2 * P * (1 + 2 * (int64_t)K);                                            \
    int nt = nthreads < 1 ? 1 : nthreads;                                                           \
    if (nt > nblocks) nt = (int)nblocks;                                                            \
    T* gbuf = (T*)calloc((size_t)nt * (nparam + (g_val ? nnz : 0)), sizeof(T));                     \
    _Pragma("omp parallel num_threads(nt)")                                                         \
    {                                                                                               \
        const int tid = omp_get_thread_num();                                                       \
        T* my = gbuf + (size_t)tid * (nparam + (g_val ? nnz : 0));                                  \
        T* go = my; T* gb = my + 2 * P; T* gw = my + 2 * P + 2 * (int64_t)K * P;                    \
        T* gv = g_val ? my + nparam : NULL;                                                         \
        T* field = (T*)malloc((size_t)N * BB * sizeof(T));                                          \
        T* dsum = g_val ? (T*)malloc((size_t)N * BB * sizeof(T)) : NULL;                            \
        _Pragma("omp for schedule(dynamic, 1)")                                                     \
        for (int64_t blk = 0; blk < nblocks; blk++) {                                               \
            const int64_t b0 = blk * BB;                                                            \
            const int nb = (int)((B - b0) < BB ? (B - b0) : BB);                                    \
            memset(field, 0, (size_t)N * BB * sizeof(T));                                           \
            if (dsum) memset(dsum, 0, (size_t)N * BB * sizeof(T));                                  \
            T sg[8][BB], u[8][BB], du[BB], dz[BB], xi[BB];                                          \
            for (int64_t i = 0; i < N; i++) {                                                       \
                const T* d = deltaT + i * B + b0;                                                   \
                for (int64_t p = seg_lo[i]; p < seg_hi[i]; p++) {                                     \
                    const T* c = field + target[p] * BB;                                            \
                    T dc[BB];                                                                       \
                    for (int b = 0; b < nb; b++) dc[b] = 0;                                         \
                    for (int br = 0; br < 2; br++) {                                                \
                        const int64_t base = (int64_t)br * K;                                       \
                        const T bk = bias[(base + K - 1) * P + p], wk = weight[(base + K - 1) * P + p]; \
                        /* recompute the chain, keeping u_j = logσ(z_j) and σ(−z_j) (one exp each) */ \
                        for (int j = K - 1; j >= 0; j--) {                                          \
                            const T bj = bias[(base + j) * P + p], wj = weight[(base + j) * P + p]; \
                            const T* in = (j == K - 1) ? c : u[j + 1];                              \
                            for (int b = 0; b < nb; b++) {                                          \
                                const T zz = bj + wj * in[b];                                       \
                                const T t = EXP(-FABS(zz));                                         \
                                const T r = (T)1 / ((T)1 + t);                                      \
                                u[j][b] = (zz < 0 ? zz : (T)0) - LOG((T)1 + t);                     \
                                sg[j][b] = zz > 0 ? t * r : r;                                      \
                            }                                                                       \
                        }                                                                           \
                        const T w0 = out_w[br * P + p];                                             \
                        T s0 = 0;                                                                   \
                        for (int b = 0; b < nb; b++) { s0 += d[b] * u[0][b]; du[b] = d[b] * w0; }   \
                        go[br * P + p] += s0;                                                       \
                        for (int j = 0; j < K; j++) {                                               \
                            const T wj = weight[(base + j) * P + p];                                \
                            const T* inp = (j == K - 1) ? c : u[j + 1];                             \
                            T sb = 0, sw = 0;                                                       \
                            for (int b = 0; b < nb; b++) {                                          \
                                dz[b] = du[b] * sg[j][b];  /* d logσ(z)/dz = σ(−z) */               \
                                sb += dz[b]; sw += dz[b] * inp[b]; du[b] = dz[b] * wj;              \
                            }                                                                       \
                            gb[(base + j) * P + p] += sb;                                           \
                            gw[(base + j) * P + p] += sw;                                           \
                        }                                                                           \
                        for (int b = 0; b < nb; b++) dc[b] += du[b];                                \
                    }                                                                               \
                    if (dsum) { T* ds = dsum + target[p] * BB; for (int b = 0; b < nb; b++) ds[b] += dc[b]; } \
                }                                                                                   \
                const T* xrow = xT + i * B + b0;                                                    \
                for (int b = 0; b < nb; b++) xi[b] = xrow[b];                                       \
                for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; e++) {                             \
                    T* f = field + col[e] * BB;                                                     \
                    const T v = val[e];                                                             \
                    for (int b = 0; b < nb; b++) f[b] += v * xi[b];                                 \
                    if (dsum) {                                                                     \
                        /* dW_il = Σ_b x_i (T_l - S_i,l): subtract the running sum now */           \
                        const T* ds = dsum + col[e] * BB; T s = 0;                                  \
                        for (int b = 0; b < nb; b++) s += xi[b] * ds[b];                            \
                        gv[e] -= s;                                                                 \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
            if (dsum) {                                                                             \
                for (int64_t i = 0; i < N; i++) {                                                   \
                    const T* xrow = xT + i * B + b0;                                                \
                    for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; e++) {                         \
                        const T* ds = dsum + col[e] * BB; T s = 0;                                  \
                        for (int b = 0; b < nb; b++) s += xrow[b] * ds[b];                          \
                        gv[e] += s;                                                                 \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
        free(field); if (dsum) free(dsum);                                                          \
    }                                                                                               \
    for (int t = 0; t < nt; t++) {                                                                  \
        const T* my = gbuf + (size_t)t * (nparam + (g_val ? nnz : 0));                              \
        for (int64_t q = 0; q < 2 * P; q++) g_out_w[q] += my[q];                                    \
        for (int64_t q = 0; q < 2 * (int64_t)K * P; q++) g_bias[q] += my[2 * P + q];                \
        for (int64_t q = 0; q < 2 * (int64_t)K * P; q++) g_weight[q] += my[2 * P + 2 * (int64_t)K * P + q]; \
        if (g_val) for (int64_t q = 0; q < nnz; q++) g_val[q] += my[nparam + q];                    \
    }                                                                                               \
    free(gbuf);                                                                                     \
}

DEFINE_KERNELS(float, f32, expf, logf, fabsf)
DEFINE_KERNELS(double, f64, exp, log, fabs)
"""

_KERNEL_FLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp", "-fPIC", "-shared"]
_kernel_lock = threading.Lock()
_kernel_state: dict = {}


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    import platform
    return platform.processor() + platform.machine()


def _kernel_library():
    """The compiled kernels (ctypes.CDLL), or None when they cannot be built here (no gcc, …)."""
    if "lib" in _kernel_state:
        return _kernel_state["lib"]
    with _kernel_lock:
        if "lib" in _kernel_state:
            return _kernel_state["lib"]
        lib = None
        if os.environ.get("ARNN_SK_KERNEL", "1") != "0":
            try:
                lib = _build_kernel_library()
            except Exception as exc:  # any failure → torch path; the reason is kept for diagnostics
                _kernel_state["error"] = f"{type(exc).__name__}: {exc}"
        _kernel_state["lib"] = lib
        return lib


def _build_kernel_library():
    key = hashlib.sha256("\n".join([_KERNEL_SOURCE, " ".join(_KERNEL_FLAGS), _cpu_signature()]).encode()).hexdigest()[:16]
    candidates = [os.environ.get("ARNN_CACHE_DIR"), Path.home() / ".cache" / "arnn_core",
                  Path(tempfile.gettempdir()) / f"arnn_core_{os.getuid() if hasattr(os, 'getuid') else 'user'}"]
    for cache in (Path(c) for c in candidates if c):
        try:
            cache.mkdir(parents=True, exist_ok=True)
            if os.access(cache, os.W_OK):
                break
        except OSError:
            continue
    else:
        raise OSError("no writable cache directory for the compiled kernels")
    target = cache / f"libsk_krsb_{key}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            c_file = Path(tmp) / "sk_krsb.c"
            c_file.write_text(_KERNEL_SOURCE)
            built = Path(tmp) / "libsk.so"
            subprocess.run(["gcc", *_KERNEL_FLAGS, str(c_file), "-o", str(built), "-lmvec", "-lm"],
                           check=True, capture_output=True, timeout=300)
            os.replace(built, target)  # atomic: concurrent builders never see a half-written file
    lib = ctypes.CDLL(str(target))
    vp, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for sfx in ("f32", "f64"):
        run = getattr(lib, f"sk_run_{sfx}")
        run.argtypes = [i32, i64, i64, i32, i64] + [vp] * 15 + [i32]
        run.restype = None
        back = getattr(lib, f"sk_backward_{sfx}")
        back.argtypes = [i64, i64, i32, i64] + [vp] * 15 + [i32]
        back.restype = None
    return lib


def kernel_status() -> str:
    """Whether the fused CPU kernels of ``sk_krsb`` are in use here, and if not, why."""
    lib = _kernel_library()
    if lib is not None:
        return "fused CPU kernels loaded"
    return "torch path (" + _kernel_state.get("error", "disabled by ARNN_SK_KERNEL=0") + ")"


def _ptr(t: torch.Tensor | None):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def _sfx(dtype) -> str:
    return "f32" if dtype == torch.float32 else "f64"


class _PairSumsKernel(torch.autograd.Function):
    """Σ_{l∈L_i} [g⁺_il(c_il) + g⁻_il(c_il)] for all sites (B, N), fused; backward recomputes."""

    @staticmethod
    def forward(ctx, x, values, out_w, bias, weight, net, known_sums=None):
        st = net._kernel_structure()
        xT = x.detach().t().contiguous()
        N, B = xT.shape
        values, out_w, bias, weight = (t.detach().contiguous() for t in (values, out_w, bias, weight))
        if known_sums is not None:
            outT = known_sums  # computed by the sampler for these very samples and parameters
        else:
            outT = torch.empty(N, B, dtype=x.dtype)
            getattr(_kernel_library(), f"sk_run_{_sfx(x.dtype)}")(
                0, N, B, net.k + 1, net.n_pairs, _ptr(xT), _ptr(st["row_ptr"]), _ptr(st["col"]), _ptr(values),
                _ptr(st["seg_lo"]), _ptr(st["seg_hi"]), _ptr(st["target"]), _ptr(out_w), _ptr(bias), _ptr(weight),
                None, None, None, _ptr(outT), None, torch.get_num_threads())
        ctx.save_for_backward(xT, values, out_w, bias, weight)
        ctx.net = net
        return outT.t()

    @staticmethod
    def backward(ctx, grad):
        xT, values, out_w, bias, weight = ctx.saved_tensors
        net = ctx.net
        st = net._kernel_structure()
        N, B = xT.shape
        deltaT = grad.t().contiguous().to(xT.dtype)
        g_out, g_bias, g_weight = torch.zeros_like(out_w), torch.zeros_like(bias), torch.zeros_like(weight)
        g_val = torch.zeros_like(values) if ctx.needs_input_grad[1] else None
        # every thread accumulates its own copy of the gradients: bound their total to ~2^26 numbers
        per_thread = out_w.numel() + bias.numel() + weight.numel() + (values.numel() if g_val is not None else 0)
        threads = max(1, min(torch.get_num_threads(), 2**26 // max(1, per_thread)))
        getattr(_kernel_library(), f"sk_backward_{_sfx(xT.dtype)}")(
            N, B, net.k + 1, net.n_pairs, _ptr(xT), _ptr(st["row_ptr"]), _ptr(st["col"]), _ptr(values),
            _ptr(st["seg_lo"]), _ptr(st["seg_hi"]), _ptr(st["target"]), _ptr(out_w), _ptr(bias), _ptr(weight), _ptr(deltaT),
            _ptr(g_out), _ptr(g_bias), _ptr(g_weight), _ptr(g_val), threads)
        return None, g_val, g_out, g_bias, g_weight, None, None


# ---------------------------------------------------------------------- the network
class SKkRSB(ARNN):
    """SK_RS (k = 0) and SK_kRSB on any pairwise system, dense or frontier (physics.md §4).

    Parameters
    ----------
    system : SpinSystem
    k : int
        Number of RSB steps: k + 1 nested logσ layers per pair and branch.
    learn_first_layer : bool
        Learn the first layer (strictly upper-triangular W, small random init) instead of fixing
        it to J.
    sparse : "auto" | "dense" | "frontier"
        Hidden units for every future spin, or only for the frontier; "auto" picks the frontier
        when ``system.is_sparse``.
    init_scale : float
        Every weight starts normal with standard deviation ``init_scale / N`` (the paper's code
        uses 1/N), every bias at zero, so q starts close to uniform; a learnt first layer starts
        normal with standard deviation ``init_scale / √N``.
    dtype, device : optional
        Where the parameters live (float32 on the CPU by default); ``.to()``/``.double()`` work too.
    backend : "auto" | "kernel" | "torch"
        How the CPU computes: the fused C kernels (``auto`` when they build here and the model is
        on the CPU in float32/float64) or plain torch operations (always on CUDA). Same function;
        the attribute can be changed after construction.
    """

    def __init__(self, system, k: int = 1, learn_first_layer: bool = False, sparse: str = "auto",
                 init_scale: float = 1.0, dtype: torch.dtype = torch.float32, device=None,
                 backend: str = "auto"):
        super().__init__(system.n)
        if backend not in ("auto", "kernel", "torch"):
            raise ValueError(f"backend must be 'auto', 'kernel' or 'torch', got {backend!r}")
        self.backend = backend
        self.k = _check_k(k)
        if not isinstance(learn_first_layer, bool):
            raise ValueError(f"learn_first_layer must be a bool, got {learn_first_layer!r}")
        init_scale = float(init_scale)
        if not math.isfinite(init_scale) or init_scale < 0:
            raise ValueError(f"init_scale must be a finite number ≥ 0, got {init_scale!r}")
        self.frontier = _resolve_sparse(system, sparse)
        self.learn_first_layer = learn_first_layer
        n = self.n
        J = system.J.numpy()

        # ---- first layer: W_sl on structural pairs s < l
        edge_s, edge_l = _upper_edges(J, dense=not self.frontier)
        self._edge_s = torch.from_numpy(edge_s)
        self._edge_l = torch.from_numpy(edge_l)
        if learn_first_layer:
            values = torch.randn(len(edge_s), dtype=torch.float64) * (init_scale / math.sqrt(n))
            self.first_layer = nn.Parameter(values.to(dtype=dtype, device=device))
        else:
            values = torch.from_numpy(J[edge_s, edge_l].copy())
            self._couplings_float64 = values  # J exactly, so .double() after float32 is not rounded
            self.register_buffer("first_layer", values.to(dtype=dtype, device=device))

        # ---- pairs: L_i per site, packed site by site, segments folded two by two into rows
        targets = _targets(J, self.frontier)
        sizes = np.array([len(t) for t in targets], dtype=np.int64)
        order = np.argsort(-sizes, kind="stable")
        rows: list[tuple[int, int]] = []
        lo, hi = 0, n - 1
        while lo <= hi:
            a = int(order[lo])
            b = int(order[hi]) if hi > lo else -1
            rows.append((a, b))
            lo, hi = lo + 1, hi - 1
        # rows where both sites are empty carry nothing
        rows = [(a, b) for a, b in rows if sizes[a] + (sizes[b] if b >= 0 else 0) > 0] or [(int(order[0]), -1)]
        width = max(1, max(sizes[a] + (sizes[b] if b >= 0 else 0) for a, b in rows))
        n_rows = len(rows)
        seg_start = np.zeros(n, dtype=np.int64)
        pair_site, pair_target, pair_slot = [], [], []
        site_position = np.full(n, 2 * n_rows, dtype=np.int64)  # default: the zero column
        offset = 0
        for r, (a, b) in enumerate(rows):
            col = 0
            for side, site in enumerate((a, b)):
                if site < 0:
                    continue
                site_position[site] = 2 * r + side
                seg_start[site] = offset
                t = targets[site]
                pair_site.append(np.full(len(t), site, dtype=np.int64))
                pair_target.append(t)
                pair_slot.append(r * width + col + np.arange(len(t), dtype=np.int64))
                col += len(t)
                offset += len(t)
        n_pairs = offset
        pair_site = np.concatenate(pair_site) if pair_site else np.zeros(0, np.int64)
        pair_target = np.concatenate(pair_target) if pair_target else np.zeros(0, np.int64)
        pair_slot = np.concatenate(pair_slot) if pair_slot else np.zeros(0, np.int64)
        # owner side of every slot: 0 → site a, 1 → site b, padding → neither
        owner = np.zeros((n_rows * width, 2))
        for r, (a, b) in enumerate(rows):
            owner[r * width: r * width + sizes[a], 0] = 1.0
            if b >= 0:
                owner[r * width + sizes[a]: r * width + sizes[a] + sizes[b], 1] = 1.0
        self.n_pairs = int(n_pairs)
        self.n_rows, self.width = n_rows, int(width)
        self._has_padding = n_rows * width != n_pairs or not np.array_equal(pair_slot, np.arange(n_pairs))
        self._seg = [(int(seg_start[i]), int(seg_start[i] + sizes[i])) for i in range(n)]
        self._targets_contiguous = [bool(len(t) == 0 or (t[0] == i + 1 and t[-1] == n - 1 and len(t) == n - 1 - i))
                                    for i, t in enumerate(targets)]

        # slot → (site, target) for the teacher-forced gather; padding slots read site 0 / target 0,
        # where c = 0 (no s < 0), and have zero parameters
        slot_site = np.zeros(n_rows * width, dtype=np.int64)
        slot_target = np.zeros(n_rows * width, dtype=np.int64)
        slot_site[pair_slot] = pair_site
        slot_target[pair_slot] = pair_target

        self._pair_site = torch.from_numpy(pair_site)
        self._pair_target = torch.from_numpy(pair_target)
        self._index_cpu = {
            "edge_s": self._edge_s, "edge_l": self._edge_l,
            "pair_slot": torch.from_numpy(pair_slot),
            "slot_flat": torch.from_numpy(slot_site * n + slot_target),
            "site_position": torch.from_numpy(site_position),
            "targets": [torch.from_numpy(t) for t in targets],
        }
        self._owner_cpu = torch.from_numpy(owner)
        if self.frontier:
            # neighbours s < i of each slot's target l (padded to the largest degree), for the gather;
            # vectorised over slots: column l's sorted neighbours, the first count_q of them are < i
            rows_l, cols_s = np.nonzero(J.T)                   # row l of Jᵀ: the neighbours s of l, sorted
            start = np.searchsorted(rows_l, np.arange(n + 1))
            nbr_of = cols_s if len(cols_s) else np.zeros(1, dtype=np.int64)  # (no couplings at all: all masked)
            col_start = start[slot_target]
            count = _count_below(nbr_of, start, slot_site, slot_target)   # neighbours of l below i
            degree = max(1, int(count.max(initial=0)))
            d = np.arange(degree)
            valid = d[None, :] < count[:, None]
            nbr = np.where(valid, nbr_of[np.minimum(col_start[:, None] + d[None, :], len(nbr_of) - 1)], 0)
            nbr_mask = valid.astype(np.float64)
            self._index_cpu["slot_nbr"] = torch.from_numpy(nbr.astype(np.int64))
            self._index_cpu["slot_nbr_flat"] = torch.from_numpy((nbr * n + slot_target[:, None]).astype(np.int64))
            self._nbr_mask_cpu = torch.from_numpy(nbr_mask)
            nbrs = [nbr_of[start[l]:start[l + 1]] for l in range(n)]
            self._index_cpu["neighbours"] = [torch.from_numpy(nb[nb > i]) for i, nb in enumerate(nbrs)]
        self._index_cache: dict = {}

        # ---- trainable parameters (physics.md §4): per pair, per branch (+, −):
        #   out_weight = w0, hidden_bias[j] = b_{j+1}, hidden_weight[j] = w_{j+1} (j = k innermost)
        std = init_scale / n
        kw = dict(dtype=dtype, device=device)
        self.out_weight = nn.Parameter((torch.randn(2, n_pairs, dtype=torch.float64) * std).to(**kw))
        self.hidden_bias = nn.Parameter(torch.zeros(2, self.k + 1, n_pairs, **kw))
        self.hidden_weight = nn.Parameter((torch.randn(2, self.k + 1, n_pairs, dtype=torch.float64) * std).to(**kw))
        self.site_bias = nn.Parameter(torch.zeros(n, **kw))
        self.site_weight = nn.Parameter((torch.randn(n, dtype=torch.float64) * std).to(**kw))

    # ------------------------------------------------------------------ helpers
    def _apply(self, fn, *args, **kwargs):
        # .to()/.double()/.cuda(): a fixed first layer is J itself, re-read from float64 rather than
        # cast from a possibly rounded float32 copy
        super()._apply(fn, *args, **kwargs)
        if not self.learn_first_layer:
            self.first_layer = self._couplings_float64.to(device=self.first_layer.device,
                                                          dtype=self.first_layer.dtype)
        return self

    def _idx(self) -> dict:
        """Index tensors (and masks) on the model's device and dtype, cached."""
        key = (str(self.device), self.dtype)
        if key not in self._index_cache:
            dev = self.device
            out = {name: ([t.to(dev) for t in v] if isinstance(v, list) else v.to(dev))
                   for name, v in self._index_cpu.items()}
            out["owner"] = self._owner_cpu.to(device=dev, dtype=self.dtype)
            if self.frontier:
                out["nbr_mask"] = self._nbr_mask_cpu.to(device=dev, dtype=self.dtype)
            self._index_cache = {key: out}
        return self._index_cache[key]

    def _kernel_structure(self) -> dict:
        """CPU int64 arrays the C kernels read: W in CSR (rows s, columns l > s) and the pair segments."""
        if getattr(self, "_kernel_arrays", None) is None:
            n = self.n
            row_ptr = torch.zeros(n + 1, dtype=torch.int64)
            row_ptr[1:] = torch.cumsum(torch.bincount(self._edge_s, minlength=n), 0)
            seg_lo = torch.tensor([a for a, _ in self._seg], dtype=torch.int64)
            seg_hi = torch.tensor([b for _, b in self._seg], dtype=torch.int64)
            self._kernel_arrays = {"row_ptr": row_ptr, "col": self._edge_l.contiguous(), "seg_lo": seg_lo, "seg_hi": seg_hi,
                                   "target": self._pair_target.contiguous()}
        return self._kernel_arrays

    def _use_kernel(self) -> bool:
        if self.backend == "torch":
            return False
        fits = self.device.type == "cpu" and self.dtype in (torch.float32, torch.float64)
        if fits and _kernel_library() is not None:
            return True
        if self.backend == "kernel":
            raise ValueError("backend='kernel' needs the model on the CPU in float32/float64 and the compiled "
                             f"kernels ({kernel_status()})")
        return False

    def _pair_parameter_key(self) -> tuple:
        return tuple((t.data_ptr(), t._version, t.dtype) for t in
                     (self.first_layer, self.out_weight, self.hidden_bias, self.hidden_weight))

    def _sampled_sums(self, x: torch.Tensor):
        """The pair sums the sampler already computed for ``x``, if ``x`` is its untouched output and
        the pair parameters have not changed since (so REINFORCE's ``log_prob`` of fresh samples
        skips one pass); else None."""
        cache = getattr(self, "_last_sample", None)
        if cache is None:
            return None
        ref, version, sums, key = cache
        if x is ref and x._version == version and key == self._pair_parameter_key():
            return sums
        return None

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(site i, target l) of every packed pair, in the order of the last axis of ``out_weight``,
        ``hidden_bias`` and ``hidden_weight`` (CPU long tensors)."""
        return self._pair_site.clone(), self._pair_target.clone()

    def first_layer_matrix(self) -> torch.Tensor:
        """The first layer as a strictly upper-triangular (N, N) matrix: entry (s, l) = W_sl, s < l."""
        idx = self._idx()
        W = torch.zeros(self.n * self.n, device=self.device, dtype=self.dtype)
        W = W.index_put((idx["edge_s"] * self.n + idx["edge_l"],), self.first_layer)
        return W.view(self.n, self.n)

    def first_layer_weights(self) -> torch.Tensor:
        """W + Wᵀ (N×N, symmetric; equals J unless the first layer is learnt), detached."""
        W = self.first_layer_matrix().detach()
        return W + W.T

    def _padded(self, tensor: torch.Tensor) -> torch.Tensor:
        """(…, P) packed pair parameters → (…, R, M) folded rows, zero on padding slots."""
        if not self._has_padding:
            return tensor.reshape(*tensor.shape[:-1], self.n_rows, self.width)
        out = tensor.new_zeros(*tensor.shape[:-1], self.n_rows * self.width)
        out = out.index_copy(-1, self._idx()["pair_slot"], tensor)
        return out.view(*tensor.shape[:-1], self.n_rows, self.width)

    # ------------------------------------------------------------------ teacher-forced pass
    def _slot_fields(self, x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """c for every slot: (B, R·M), c_il = Σ_{s<i} W_sl x_s of the slot's pair (i, l)."""
        idx = self._idx()
        if self.frontier:
            w = W.reshape(-1)[idx["slot_nbr_flat"]] * idx["nbr_mask"]        # (S, D)
            return (x[:, idx["slot_nbr"]] * w).sum(-1)                        # (B, S)
        xw = x[:, :-1, None] * W[:-1]                                        # (B, N-1, N): x_s W_sl
        # exclusive over s by shifting (not "inclusive − own term", whose rounding would let x_i leak in)
        Y = F.pad(torch.cumsum(xw, dim=1), (0, 0, 1, 0))
        return Y.reshape(x.shape[0], -1).index_select(1, idx["slot_flat"])

    def _pair_sums(self, x, W, out_w, bias, weight):
        """Σ_{l ∈ L_i} [g⁺_il + g⁻_il] for every site: (B, N)."""
        idx = self._idx()
        B = x.shape[0]
        c = self._slot_fields(x, W).view(B, self.n_rows, self.width)
        u = F.logsigmoid(torch.addcmul(bias[:, self.k, None], weight[:, self.k, None], c))  # (2, B, R, M)
        for j in range(self.k - 1, -1, -1):
            u = F.logsigmoid(torch.addcmul(bias[:, j, None], weight[:, j, None], u))
        # w0 and the owner split in one contraction: rows hold two sites' segments
        wo = out_w[..., None] * idx["owner"].view(self.n_rows, self.width, 2)   # (2, R, M, 2)
        sums = torch.einsum("obrm,ormq->brq", u, wo).reshape(B, 2 * self.n_rows)
        sums = torch.cat([sums, sums.new_zeros(B, 1)], dim=1)
        return sums.index_select(1, idx["site_position"])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, N), all sites at once (physics.md §3–4)."""
        x = x.to(dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"x must have shape (B, {self.n}), got {tuple(x.shape)}")
        W = self.first_layer_matrix()
        phi = x @ W                                  # φ'_i = Σ_{s<i} W_si x_s (W strictly upper)
        if self._use_kernel():
            sums = _PairSumsKernel.apply(x, self.first_layer, self.out_weight, self.hidden_bias,
                                         self.hidden_weight, self, self._sampled_sums(x))
            return self.site_bias + self.site_weight * phi + sums
        out_w = self._padded(self.out_weight)
        bias = self._padded(self.hidden_bias)        # (2, k+1, R, M)
        weight = self._padded(self.hidden_weight)
        B = x.shape[0]
        per_row = 2 * self.n_rows * self.width * (self.k + 2)
        budget = _CHUNK_ELEMENTS * (_CUDA_CHUNK_FACTOR if x.device.type == "cuda" else 1)
        chunk = max(1, budget // per_row)
        if B <= chunk:
            sums = self._pair_sums(x, W, out_w, bias, weight)
        else:
            # chunks bound the memory; checkpointing recomputes them in backward instead of storing
            parts = []
            grad = torch.is_grad_enabled()
            for start in range(0, B, chunk):
                xb = x[start:start + chunk]
                if grad:
                    parts.append(checkpoint(self._pair_sums, xb, W, out_w, bias, weight,
                                            use_reentrant=False))
                else:
                    parts.append(self._pair_sums(xb, W, out_w, bias, weight))
            sums = torch.cat(parts, 0)
        return self.site_bias + self.site_weight * phi + sums

    # ------------------------------------------------------------------ sampler
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` samples site by site, updating c incrementally (physics.md §3, fact 3)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"number of samples must be a positive integer, got {n!r}")
        idx = self._idx()
        dev, dt = self.device, self.dtype
        u_draw = self._uniform((n, self.n), generator)
        if self._use_kernel():
            st = self._kernel_structure()
            uT = u_draw.t().contiguous()
            xT = torch.empty(self.n, n, dtype=dt)
            sumsT = torch.empty(self.n, n, dtype=dt)
            log_q = torch.empty(n, dtype=dt)
            params = [t.detach().contiguous() for t in (self.first_layer, self.out_weight, self.hidden_bias,
                                                         self.hidden_weight, self.site_bias, self.site_weight)]
            getattr(_kernel_library(), f"sk_run_{_sfx(dt)}")(
                1, self.n, n, self.k + 1, self.n_pairs, _ptr(xT), _ptr(st["row_ptr"]), _ptr(st["col"]),
                _ptr(params[0]), _ptr(st["seg_lo"]), _ptr(st["seg_hi"]), _ptr(st["target"]), *(_ptr(t) for t in params[1:]),
                _ptr(uT), _ptr(sumsT), _ptr(log_q), torch.get_num_threads())
            x = xT.t().contiguous()
            self._last_sample = (x, x._version, sumsT, self._pair_parameter_key())
            return x, log_q
        W = self.first_layer_matrix()
        x = torch.zeros(n, self.n, device=dev, dtype=dt)
        log_q = torch.zeros(n, device=dev, dtype=dt)
        field = torch.zeros(n, self.n, device=dev, dtype=dt)      # field[:, l] = c_il for the current i
        k = self.k
        for i in range(self.n):
            logit = self.site_bias[i] + self.site_weight[i] * field[:, i]
            a, b = self._seg[i]
            if b > a:
                c = field[:, i + 1:] if self._targets_contiguous[i] else field[:, idx["targets"][i]]
                hb = self.hidden_bias[:, :, a:b]
                hw = self.hidden_weight[:, :, a:b]
                u = F.logsigmoid(torch.addcmul(hb[:, k, None], hw[:, k, None], c))       # (2, n, |L_i|)
                for j in range(k - 1, -1, -1):
                    u = F.logsigmoid(torch.addcmul(hb[:, j, None], hw[:, j, None], u))
                logit = logit + torch.einsum("obm,om->b", u, self.out_weight[:, a:b])
            p_plus = torch.sigmoid(logit)
            xi = torch.where(u_draw[:, i] < p_plus, 1.0, -1.0).to(dt)
            x[:, i] = xi
            log_q += F.logsigmoid(xi * logit)
            if i + 1 < self.n:
                if self.frontier:
                    nb = idx["neighbours"][i]
                    if len(nb):
                        field[:, nb] += xi[:, None] * W[i, nb]
                else:
                    field[:, i + 1:] += xi[:, None] * W[i, i + 1:]
        return x, log_q


# ---------------------------------------------------------------------- registry
def _build(system, k=1, learn_first_layer=False, sparse="auto", init_scale=1.0):
    return SKkRSB(system, k=k, learn_first_layer=learn_first_layer, sparse=sparse, init_scale=init_scale)


register_architecture(ArchitectureSpec(
    name="sk_krsb",
    label="SK_RS / SK_kRSB",
    description=("Physics-derived: first layer = J (or learnt), k+1 nested logσ hidden layers per future "
                 "spin; (2k+3)·N(N−1)+2N parameters dense, N×frontier on sparse systems."),
    constructor=_build,
    options=(
        OptionSpec("k", "int", 1, min=0, max=SK_MAX_K, help="RSB steps: 0 = SK_RS, 1 = SK_1RSB, …"),
        OptionSpec("learn_first_layer", "bool", False,
                   help="learn the first layer (small random init) instead of fixing it to J"),
        OptionSpec("sparse", "choice", "auto", choices=("auto", "dense", "frontier"),
                   help="hidden units for every future spin (dense) or only the frontier; auto = frontier on sparse systems"),
        OptionSpec("init_scale", "float", 1.0, min=0.0, max=100.0,
                   help="initial weights ~ Normal(0, (init_scale/N)²), biases 0"),
    ),
    latex=(r"\mathrm{logit}_i = a_i + w_i\,\varphi'_i + \sum_{l>i}\big[g^+_{il}(c_{il}) + g^-_{il}(c_{il})\big],\quad "
           r"g_{il}(c) = w^0_{il}\,\log\sigma\!\big(b^1_{il} + w^1_{il}\log\sigma(\cdots\log\sigma(b^{k+1}_{il} + w^{k+1}_{il} c))\big),"
           r"\quad c_{il} = \sum_{s<i} J_{sl}x_s"),
    param_count=sk_krsb_param_count,
))
