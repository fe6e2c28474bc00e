"""Benchmark: the design check of ``gutbrain run`` on American Gut, against one kernel call per variable.

``gb.tl.design_check`` tests every metadata variable with PERMANOVA (19 permutations, then 199
when ``p ≤ 0.25``).  Its PERMANOVAs share their fixed costs (squares of the distances, the BLAS
thread limit) and sum the second stage of variables with three or more levels row by row.  The
comparison is the straightforward loop it replaced — ``gb.tl.permanova_kernel`` on each
variable's submatrix, twice when the first stage says so — on the same variables, labels and
seeds, timed in the same process (wall and CPU seconds, alternating, best of ``--repeats``);
the script checks that both give the same R² and p-values.

The AnnData is a ``gutbrain run`` output (``OUT/gutbrain.h5ad`` of the American Gut command of
``benchmarks/run_americangut.py``), read once::

    python benchmarks/design_check.py OUT/gutbrain.h5ad [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _bench import record


def _labels(adata, tested_names):
    """(seed offset, samples kept, labels) of every variable the design check tests."""
    from gutbrain.tl import _design

    variables = list(adata.uns["workflow"]["metadata_columns"])
    out = []
    for k, name in enumerate(variables):
        if name not in tested_names:
            continue
        s = adata.obs[name]
        kind = _design._kind(s)
        present = ~_design._missing(s)
        s = s.astype(object).where(present) if not present.all() and kind == "categorical" else s
        cats, _ = _design._categories(s, kind)
        ok = cats.notna().to_numpy()
        labels = cats[ok].astype(str).to_numpy()
        out.append((k, ok, labels))
    return variables, out


def _per_variable(D, tested, seed):
    """R² and sequential p of each variable, one ``permanova_kernel`` call per stage."""
    import gutbrain as gb
    from gutbrain.tl._design import permanova_r2

    res = []
    for k, ok, labels in tested:
        sub = D if ok.all() else D[np.ix_(ok, ok)]
        first = gb.tl.permanova_kernel(sub, labels, permutations=19, random_state=seed + k)
        p = float(first["p-value"])
        if p <= 0.25:
            p = float(gb.tl.permanova_kernel(sub, labels, permutations=199, random_state=seed + k)["p-value"])
        res.append((permanova_r2(float(first["test statistic"]), labels.size, np.unique(labels).size), p))
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("h5ad", help="gutbrain.h5ad of an American Gut run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import anndata as ad

    import gutbrain as gb

    adata = ad.read_h5ad(args.h5ad)
    params = dict(adata.uns["workflow"]["params"])
    group = str(params["group"])
    if params.get("subject"):
        ap.error("runs with --subject are not covered (the loop permutes freely)")
    exclude = [c for c in (params.get("cv_groups"),) if c]
    seed = int(params.get("seed", 0) or 0)
    D = np.asarray(adata.obsp["braycurtis"], dtype=np.float64)

    def check():
        return gb.tl.design_check(adata.copy(), group=group, distance="braycurtis",
                                  variables=list(adata.uns["workflow"]["metadata_columns"]),
                                  exclude=exclude, random_state=seed)

    first = check()
    variables, tested = _labels(adata, set(first["variable"][np.isfinite(first["permanova_r2"].astype(float))]))

    def loop():
        return _per_variable(D, tested, seed)

    check(), loop()  # compile / load the kernels
    t_new, t_old = [], []
    for _ in range(args.repeats):
        for fn, acc in ((loop, t_old), (check, t_new)):
            w, c = time.perf_counter(), time.process_time()
            out = fn()
            acc.append((time.perf_counter() - w, time.process_time() - c))
            if fn is check:
                tab = out.set_index("variable")
            else:
                ref = out
    names = [variables[k] for k, _, _ in tested]
    same = all(tab.loc[nm, "permanova_r2"] == r2 and tab.loc[nm, "permanova_p"] == p
               for nm, (r2, p) in zip(names, ref, strict=True))
    best_old, best_new = min(t_old), min(t_new)
    print(f"{len(tested)} variables, {adata.n_obs} samples")
    print(f"per-variable permanova_kernel (PERMANOVA only): wall {best_old[0]:.2f} s, CPU {best_old[1]:.2f} s")
    print(f"gb.tl.design_check (whole table):               wall {best_new[0]:.2f} s, CPU {best_new[1]:.2f} s")
    print(f"ratio wall {best_old[0] / best_new[0]:.2f}×, CPU {best_old[1] / best_new[1]:.2f}×; "
          f"same R² and p-values: {same}")
    record("design check (American Gut run)", f"n={adata.n_obs}, {len(tested)} variables",
           "permanova_kernel per variable", best_old[0], best_new[0],
           note="design_check includes the association tests; same R² and p-values" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
