"""PCoA, PERMANOVA and PERMDISP: gutbrain vs scikit-bio and vs their floors, side by side in one process.

Usage::

    python benchmarks/ordination.py            # N=10,000 samples (scikit-bio's full eigh takes minutes)
    python benchmarks/ordination.py --quick    # N=2,000 (what `make bench` runs)
    python benchmarks/ordination.py --n 5000 --engines cython

Workload: Bray–Curtis distances (computed once, not timed) of Dirichlet-multinomial counts
with F=300 features (``--f``); two groups of equal size for the tests; 999 permutations;
10 axes.

* **PCoA, exact top axes** — ``gb.tl.pcoa_kernel(D, 10)`` (block Krylov solver run to a
  residual of 1e-11) against scikit-bio's ``pcoa(dm)`` (full ``eigh``, all axes) and
  ``pcoa(dm, dimensions=10)`` (LAPACK restricted to 10 axes). The axes are compared with
  the full ``eigh`` up to sign (max |Δ| of coordinates relative to the largest).
  *Floor*: the fused Gower centring plus the same number of bare ``B @ V`` products the
  solver needed (the BLAS work any block method of that depth must do).
* **PCoA, fsvd** — ``method="fsvd"`` against scikit-bio's ``method="fsvd"``, with each
  one's largest eigenvalue error relative to the exact top eigenvalue.
* **PERMANOVA** — ``gb.tl.permanova_kernel`` against ``skbio.stats.distance.permanova``
  (same seed, so the same permutations: the pseudo-F and p-value must agree).
  *Floor* as issue 18 defines it: the squared distance matrix times the permuted
  group-indicator matrix with one column per group and permutation, one BLAS call per
  block of rows, indicators built in advance (not timed) — the ``floor`` columns of
  ``make bench``. Two stricter floors are printed too: ``groups − 1`` columns, and
  ``groups − 1`` columns over the upper triangle only (exactly the product gutbrain makes;
  the ``strict floor`` columns). None of the floors draws the permutations, which
  gutbrain and scikit-bio both must (NumPy's ``rng.permutation``, one per permutation):
  their time is printed as a note.
* **PERMDISP** — ``gb.tl.permdisp_kernel`` (``test="median"`` and ``"centroid"``) against
  ``skbio.stats.distance.permdisp``. *Floor*: the PCoA floor above (the eigensolve
  dominates) plus, for every permutation, the group centroids as one product of the
  indicator matrix with the coordinates (timed beside the PERMDISP runs); the
  spatial-median iterations come on top. ``--engines ""`` times gutbrain against the
  floors only.

scikit-bio runs with each engine in ``--engines`` (default: ``cython,numba``; the first
numba call is compiled before timing) and the faster one is the peer.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np
from _bench import machine, measure, record
from beta import simulate


def _best(times: dict[str, float]) -> tuple[str, float]:
    name = min(times, key=times.__getitem__)
    return name, times[name]


def pcoa_rows(D: np.ndarray, k: int, engines: list[str], skip_full: bool, repeat: int = 1) -> float:
    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa as sk_pcoa

    import gutbrain.tl as tl

    n = D.shape[0]
    size = f"N={n}"
    tl.pcoa_kernel(D[:1200, :1200], k)  # compile the centring kernels
    (coords, w, _), t_gb, _, r_gb = measure(lambda: tl.pcoa_kernel(D, k), trace=False)
    print(f"\nPCoA exact, top {k} axes of N={n}")
    print(f"{'impl':<34} {'seconds':>9} {'ΔRSS MiB':>9} {'gb speed-up':>11} {'axes max|Δ|':>12}")
    print(f"{'gutbrain (block Krylov)':<34} {t_gb:9.3f} {r_gb:9.0f} {'1.0':>11}", flush=True)
    t_floor, products, ok = _pcoa_floor(D, k)
    print(f"{'floor: centring + ' + str(products) + ' products B@V':<34} {t_floor:9.3f} {'':>9} "
          f"{t_floor / t_gb:11.2f}   (converged: {ok})", flush=True)
    dm = DistanceMatrix(D, validate=False)
    peers: dict[str, float] = {}
    if not skip_full:
        for eng in engines:
            res, t_p, _, r_p = measure(lambda eng=eng: sk_pcoa(dm, engine=eng), trace=False)
            ref = res.samples.to_numpy()[:, :k]
            del res
            signs = np.sign(np.sum(ref * coords, axis=0))
            err = float(np.abs(coords * signs - ref).max() / np.abs(ref).max())
            peers[f"skbio pcoa full eigh ({eng})"] = t_p
            print(f"{'skbio pcoa, full eigh (' + eng + ')':<34} {t_p:9.3f} {r_p:9.0f} {t_p / t_gb:11.2f} {err:12.1e}",
                  flush=True)
    res, t_p10, _, r_p10 = measure(lambda: sk_pcoa(dm, dimensions=k), trace=False)
    ref = res.samples.to_numpy()
    signs = np.sign(np.sum(ref * coords, axis=0))
    err = float(np.abs(coords * signs - ref).max() / np.abs(ref).max())
    print(f"{'skbio pcoa, dimensions=' + str(k) + ' (LAPACK)':<34} {t_p10:9.3f} {r_p10:9.0f} {t_p10 / t_gb:11.2f} "
          f"{err:12.1e}", flush=True)
    if peers:
        name, t_p = _best(peers)
        record("PCoA exact top 10 axes (Bray–Curtis)", size, name, t_p, t_gb,
               floor=f"centring + {products} B@V", floor_s=t_floor)
    record("PCoA exact top 10 axes (Bray–Curtis)", size, "skbio pcoa dimensions=10", t_p10, t_gb,
           floor=f"centring + {products} B@V", floor_s=t_floor)

    fsvd_rows(D, k, w, repeat)
    return t_floor


def fsvd_rows(D: np.ndarray, k: int, w: np.ndarray | None, repeat: int) -> None:
    """PCoA fsvd: gutbrain vs scikit-bio, ``repeat`` interleaved runs each (medians)."""
    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa as sk_pcoa

    import gutbrain.tl as tl

    if w is None:  # exact eigenvalues to measure the errors against
        w = tl.pcoa_kernel(D, k)[1]
    dm = DistanceMatrix(D, validate=False)
    t_g, t_s = [], []
    for _ in range(max(1, repeat)):
        (_, w_f, _), t, _, _ = measure(lambda: tl.pcoa_kernel(D, k, method="fsvd", random_state=0), trace=False)
        t_g.append(t)
        res, t, _, _ = measure(lambda: sk_pcoa(dm, method="fsvd", dimensions=k, seed=0), trace=False)
        t_s.append(t)
    t_gf, t_sf = float(np.median(t_g)), float(np.median(t_s))
    e_gb = float(np.abs(w_f - w).max() / w[0])
    e_sk = float(np.abs(res.eigvals.to_numpy() - w).max() / w[0])
    print(f"\nPCoA fsvd, {k} axes (median of {len(t_g)}): gutbrain {t_gf:.3f} s (eigenvalue error {e_gb:.1e}), "
          f"skbio {t_sf:.3f} s (error {e_sk:.1e}); gb speed-up {t_sf / t_gf:.2f}", flush=True)
    record("PCoA fsvd 10 axes", f"N={D.shape[0]}", "skbio pcoa fsvd", t_sf, t_gf,
           note=f"eigenvalue error gb {e_gb:.0e}, skbio {e_sk:.0e}"
                + (f"; median of {len(t_g)} interleaved runs" if len(t_g) > 1 else ""))


def _pcoa_floor(D: np.ndarray, k: int) -> tuple[float, int, bool]:
    """Seconds of the PCoA floor (centring + the solver's products as bare GEMMs), products, converged."""
    from gutbrain.tl import _ordination as go

    n = D.shape[0]
    B = go.gower_center(D)
    products, ok = _count_products(B, k)
    V = np.random.default_rng(1).standard_normal((n, max(2 * k, k + 10)))
    t0 = time.perf_counter()
    go.gower_center(D)
    for _ in range(products):
        B @ V
    t_floor = time.perf_counter() - t0
    del B
    return t_floor, products, ok


def _count_products(B: np.ndarray, k: int) -> tuple[int, bool]:
    """Number of ``B @ V`` products the exact solver makes on ``B``, and whether it converged."""
    from gutbrain.tl import _ordination as go

    info: dict[str, Any] = {}
    _, _, ok = go._block_krylov_eigh(B, k, block=max(2 * k, k + 10), tol=go.EXACT_TOL,
                                     max_products=go.EXACT_MAX_PRODUCTS, rng=np.random.default_rng(0), info=info)
    return int(info["products"]), ok


def _indicator(batch: np.ndarray, cols: int) -> np.ndarray:
    b, n = batch.shape
    W = np.zeros((n, b * cols))
    rows, perm = np.nonzero(batch.T < cols)
    W[rows, perm * cols + batch.T[rows, perm]] = 1.0
    return W


def permanova_rows(D: np.ndarray, labels: np.ndarray, perms: int, engines: list[str], repeat: int = 1) -> None:
    from skbio import DistanceMatrix
    from skbio.stats.distance import permanova as sk_permanova

    import gutbrain.tl as tl
    from gutbrain.tl._stats import _BATCH, _codes, _labellings, _rows_per_block

    n = D.shape[0]
    m = min(n, 600)  # warm the blocked path (n ≥ 512) too
    tl.permanova_kernel(D[:m, :m], np.tile(["a", "b"], m // 2 + 1)[:m], permutations=9)
    runs = [measure(lambda: tl.permanova_kernel(D, labels, permutations=perms, random_state=0), trace=False)
            for _ in range(max(1, repeat))]
    res, r_gb = runs[-1][0], max(r[3] for r in runs)
    t_gb = float(np.median([r[1] for r in runs]))
    # floors: bare products of D² and the indicator matrices (built in advance, not timed), on
    # row blocks with one thread per core as gutbrain runs them (tl/_blocks.py)
    from gutbrain.tl._blocks import blas_blocks

    groups, codes = _codes(labels)
    g = groups.size
    D2 = D * D
    batches = list(_labellings(codes, perms, 0))
    floors = {}
    for cols, label, upper in ((g, "g columns", False), (g - 1, "g−1 columns", False),
                               (g - 1, "upper triangle, g−1 columns", True)):
        Ws = [_indicator(b, cols) for b in batches]  # codes ≥ cols (the last group) left out
        times = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            with blas_blocks() as blocks:
                for W in Ws:
                    def work(r0: int, r1: int, W: np.ndarray = W, upper: bool = upper, A: np.ndarray = D2) -> None:
                        if upper:
                            A[r0:r1, r0:] @ W[r0:]
                        else:
                            A[r0:r1] @ W
                    blocks.map(n, _rows_per_block(n, blocks.workers), work)
            times.append(time.perf_counter() - t0)
        floors[label] = float(np.median(times))
        del Ws
    del D2
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(perms):
        rng.permutation(codes)
    t_draw = time.perf_counter() - t0
    print(f"\nPERMANOVA, {perms} permutations, {g} groups, N={n} (batches of {_BATCH}; "
          f"median of {max(1, repeat)} runs each)")
    print(f"{'impl':<34} {'seconds':>9} {'ΔRSS MiB':>9} {'gb speed-up':>11}  statistic, p")
    print(f"{'gutbrain':<34} {t_gb:9.3f} {r_gb:9.0f} {'1.0':>11}  F={res['test statistic']:.10g} "
          f"p={res['p-value']:.4f}", flush=True)
    for label, t in floors.items():
        print(f"{'floor: D² @ W (' + label + ')':<34} {t:9.3f} {'':>9} {t / t_gb:11.2f}", flush=True)
    print(f"{'(not in any floor) numpy draws':<34} {t_draw:9.3f} {'':>9} {t_draw / t_gb:11.2f}", flush=True)
    dm = DistanceMatrix(D, validate=False)
    peers = {}
    for eng in engines:
        if eng == "numba":
            sk_permanova(DistanceMatrix(D[:50, :50], validate=False), np.tile(["a", "b"], 25), permutations=9,
                             engine=eng)
        sk_runs = [measure(lambda eng=eng: sk_permanova(dm, labels, permutations=perms, seed=0, engine=eng),
                           trace=False) for _ in range(max(1, repeat))]
        ref, r_p = sk_runs[-1][0], max(r[3] for r in sk_runs)
        t_p = float(np.median([r[1] for r in sk_runs]))
        peers[f"skbio permanova ({eng})"] = t_p
        same = "same F and p" if (abs(ref["test statistic"] / res["test statistic"] - 1) < 1e-10
                                  and ref["p-value"] == res["p-value"]) else \
            f"DIFFERENT: F={ref['test statistic']:.10g} p={ref['p-value']}"
        print(f"{'skbio permanova (' + eng + ')':<34} {t_p:9.3f} {r_p:9.0f} {t_p / t_gb:11.2f}  {same}", flush=True)
    name, t_p = _best(peers)
    record(f"PERMANOVA {perms} perms, {g} groups", f"N={n}", name, t_p, t_gb,
           floor="D² @ W, g cols (issue 18)", floor_s=floors["g columns"],
           strict="upper(D²) @ W, g−1 cols", strict_s=floors["upper triangle, g−1 columns"],
           note=f"D² @ W with g−1 columns {floors['g−1 columns']:.3g} s "
                f"(gb/that {t_gb / floors['g−1 columns']:.2f}); drawing the {perms} permutations "
                f"(numpy, as scikit-bio; in no floor) {t_draw:.3g} s")


def permdisp_rows(D: np.ndarray, labels: np.ndarray, perms: int, engines: list[str]) -> None:
    from skbio import DistanceMatrix
    from skbio.stats.distance import permdisp as sk_permdisp

    import gutbrain.tl as tl
    from gutbrain.tl._stats import _codes, _labellings

    n = D.shape[0]
    groups, codes = _codes(labels)
    g = groups.size
    small = np.tile(["a", "b"], 30)
    tl.permdisp_kernel(D[:60, :60], small, permutations=9)
    tl.permdisp_kernel(D[:60, :60], small, permutations=9, test="centroid")
    X, _, _ = tl.pcoa_kernel(D, 10)
    pcoa_floor = _pcoa_floor(D, 10)[0]  # timed here, beside the PERMDISP runs
    t0 = time.perf_counter()
    for batch in _labellings(codes, perms, 0):
        W = _indicator(batch, g)
        W.T @ X  # centroids (sums) of every group under every labelling
    t_cent = time.perf_counter() - t0
    floor = pcoa_floor + t_cent
    dm = DistanceMatrix(D, validate=False)
    for test in ("median", "centroid"):
        res, t_gb, _, r_gb = measure(
            lambda test=test: tl.permdisp_kernel(D, labels, test=test, permutations=perms, random_state=0),
            trace=False)
        print(f"\nPERMDISP ({test}), {perms} permutations, {g} groups, N={n}")
        print(f"{'impl':<34} {'seconds':>9} {'ΔRSS MiB':>9} {'gb speed-up':>11}  statistic, p")
        print(f"{'gutbrain':<34} {t_gb:9.3f} {r_gb:9.0f} {'1.0':>11}  F={res['test statistic']:.10g} "
              f"p={res['p-value']:.4f}", flush=True)
        print(f"{'floor: PCoA floor + centroids':<34} {floor:9.3f} {'':>9} {floor / t_gb:11.2f}", flush=True)
        peers = {}
        for eng in engines:
            if eng == "numba":
                sk_permdisp(DistanceMatrix(D[:60, :60], validate=False), small, permutations=9,
                            test=test, engine=eng)
            ref, t_p, _, r_p = measure(
                lambda eng=eng, test=test: sk_permdisp(dm, labels, test=test, permutations=perms, seed=0,
                                                       engine=eng), trace=False)
            peers[f"skbio permdisp ({eng})"] = t_p
            rel = abs(ref["test statistic"] / res["test statistic"] - 1)
            same = f"F rel. Δ {rel:.1e}, " + ("same p" if ref["p-value"] == res["p-value"] else
                                              f"p DIFFERENT: {ref['p-value']}")
            print(f"{'skbio permdisp (' + eng + ')':<34} {t_p:9.3f} {r_p:9.0f} {t_p / t_gb:11.2f}  {same}",
                  flush=True)
        name, t_p = _best(peers) if peers else (None, None)
        record(f"PERMDISP ({test}) {perms} perms", f"N={n}", name, t_p, t_gb,
               floor="PCoA floor + centroids", floor_s=floor,
               note="the floor has no spatial-median (Weiszfeld) iterations" if test == "median" else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=2,000")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--f", type=int, default=300)
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--engines", default="cython,numba", help="scikit-bio compute engines to time")
    ap.add_argument("--skip-full-eigh", action="store_true", help="skip scikit-bio's full eigh (slowest)")
    ap.add_argument("--only", default="pcoa,permanova,permdisp",
                    help="pcoa (with fsvd), fsvd (alone), permanova, permdisp")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each side for fsvd and PERMANOVA (medians; interleaved)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    n = args.n or (2000 if args.quick else 10_000)
    engines = [e for e in args.engines.split(",") if e]
    print(machine())
    import skbio

    import gutbrain.tl as tl
    from gutbrain.tl._beta import squareform

    X = simulate(n, args.f)
    X = X[X.sum(axis=1) > 0]
    D = squareform(tl.braycurtis(X))
    n = D.shape[0]
    print(f"scikit-bio {skbio.__version__}; Bray–Curtis of N={n} × F={args.f} Dirichlet-multinomial counts "
          f"({100 * (X == 0).mean():.0f} % zeros)")
    labels = np.repeat(np.array(["a", "b"]), [n // 2, n - n // 2])
    only = set(args.only.split(","))
    if "pcoa" in only:
        pcoa_rows(D, 10, engines, args.skip_full_eigh, args.repeat)
    if "fsvd" in only and "pcoa" not in only:
        fsvd_rows(D, 10, None, args.repeat)
    if "permanova" in only:
        permanova_rows(D, labels, args.permutations, engines, args.repeat)
    if "permdisp" in only:
        permdisp_rows(D, labels, args.permutations, engines)


if __name__ == "__main__":
    main()
