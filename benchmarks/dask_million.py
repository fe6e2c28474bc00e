"""MaAsLin2 and per-sample indices on 1,000,000 samples × 200 features, chunked by samples on Dask.

Usage::

    python benchmarks/dask_million.py                     # 1,000,000 × 200, local cluster of 4 workers
    python benchmarks/dask_million.py --n 200000 --check 50000
    python benchmarks/dask_million.py --address tcp://scheduler:8786   # an existing cluster

Not a timed test: it demonstrates that the table never reaches the client. The counts
are generated *on the workers*, chunk by chunk (``dask.array.map_blocks`` with one seed
per chunk); the client holds only the sample metadata (drawn from the same per-chunk
seeds, so it matches the counts), the ``n × p`` design and the per-feature results.
The script prints wall times and the client's peak resident memory (``ru_maxrss`` of
this process: the local cluster's scheduler runs here too, its workers are separate
processes), which must stay below 1.5 GB, and the largest per-chunk worker memory.

Model: ``~ group + age`` (MaAsLin2 defaults: TSS, LOG, prevalence ≥ 10 %), 10 features
raised in cases and 5 with age; then Shannon, Simpson, observed features, GMHI and
GMWI2 per sample as ``map_blocks`` over the same array (features are named after the
GMHI and GMWI2 species so that both indices have something to score).

``--check N`` also runs the in-process :func:`gutbrain.tl.diff_abundance` on the first
``N`` samples (after the memory measurement) and compares it with the Dask path on the
same ``N`` samples (≤ 1e-8 relative).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
from _bench import machine, record

EFFECT_GROUP = 10  # features raised in cases
EFFECT_AGE = 5  # features associated with age


def _metadata(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    case = rng.random(rows) < 0.4
    age = rng.normal(50.0, 12.0, rows)
    return case, age


def chunk_counts(block_id: tuple[int, int], rows: int, f: int, seed: int) -> np.ndarray:
    """One chunk of counts, drawn on a worker from the chunk's own seed (metadata first)."""
    rng = np.random.default_rng([seed, block_id[0]])
    case, age = _metadata(rng, rows)
    base = np.random.default_rng(seed).lognormal(0.0, 1.5, f)  # feature means: the same in every chunk
    log_lam = np.log(base)[None, :] + rng.normal(0.0, 1.0, (rows, f))
    log_lam[:, :EFFECT_GROUP] += 0.8 * case[:, None]
    log_lam[:, EFFECT_GROUP:EFFECT_GROUP + EFFECT_AGE] += 0.02 * (age[:, None] - 50.0)
    depth = rng.integers(5_000, 50_000, rows)
    lam = np.exp(log_lam)
    lam *= (depth / lam.sum(axis=1))[:, None]
    return rng.poisson(lam).astype(np.float64)


def obs_frame(n: int, chunk: int, seed: int) -> pd.DataFrame:
    """The sample metadata, drawn on the client from the same per-chunk seeds."""
    case, age = [], []
    for k, start in enumerate(range(0, n, chunk)):
        c, a = _metadata(np.random.default_rng([seed, k]), min(chunk, n - start))
        case.append(c)
        age.append(a)
    return pd.DataFrame(
        {"group": pd.Categorical(np.where(np.concatenate(case), "case", "control"), categories=["control", "case"]),
         "age": np.concatenate(age)},
        index=pd.RangeIndex(n).astype(str),
    )


def feature_names(f: int) -> list[str]:
    """GMHI and GMWI2 species first (so both indices score), then fillers."""
    from gutbrain.tl._gmhi import gmhi_species
    from gutbrain.tl._gmwi2 import gmwi2_coefficients

    names = list(gmhi_species()["species"])
    coefs = gmwi2_coefficients()
    names += [s for s in coefs.loc[coefs["rank"] == "species", "name"] if s not in names]
    names = [f"s__{s.replace(' ', '_')}" for s in names]
    names += [f"s__Filler_species{j}" for j in range(f)]
    return names[:f]


def build(n: int, f: int, chunk: int, seed: int):
    import dask.array as da

    from gutbrain._core import new_adata
    from gutbrain.taxonomy import lineage_frame

    chunks = ((chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ()), (f,))
    X = da.map_blocks(
        lambda block_id=None: chunk_counts(block_id, chunks[0][block_id[0]], f, seed),
        dtype=np.float64, chunks=chunks, meta=np.empty((0, 0)),
    )
    names = feature_names(f)
    obs = obs_frame(n, chunk, seed)
    # an empty in-memory shell carries obs/var/provenance; X is then the Dask array
    shell = new_adata(np.zeros((0, f)), obs_names=[], var_names=names, unit="counts", reader="benchmark",
                      var=lineage_frame(names, index=names), synthetic=True, sparse=False)
    import anndata as ad

    adata = ad.AnnData(obs=obs, var=shell.var)
    adata.X = X
    adata.uns["gutbrain"] = dict(shell.uns["gutbrain"])
    return adata


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--f", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=25_000, help="samples per chunk")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--address", default=None, help="scheduler of an existing cluster")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", type=int, default=0, help="compare with in-process on the first N samples")
    args = ap.parse_args()

    import gutbrain.parallel as gp

    print(machine())
    print(f"client peak RSS after imports: {peak_rss_mb():.0f} MB")
    t0 = time.perf_counter()
    adata = build(args.n, args.f, args.chunk, args.seed)
    print(f"N={args.n:,} samples × F={args.f} features in {adata.X.numblocks[0]} chunks of ≤ {args.chunk:,} "
          f"samples ({adata.X.nbytes / 2**30:.2f} GiB as dense float64, generated on the workers); "
          f"metadata built in {time.perf_counter() - t0:.1f} s; client peak RSS {peak_rss_mb():.0f} MB")
    kw = {} if args.address else {"n_workers": args.workers, "threads_per_worker": 1, "memory_limit": "3GiB"}
    with gp.dask_client(args.address, **kw) as client:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers, {gp.n_threads(client)} threads")
        t0 = time.perf_counter()
        res = gp.diff_abundance_dask(adata, formula="~ group + age", client=client)
        t_da = time.perf_counter() - t0
        hits = res[res["qval"] < 0.05]
        found_g = set(hits.loc[hits["metadata"] == "group", "feature"]) & set(adata.var_names[:EFFECT_GROUP])
        found_a = set(hits.loc[hits["metadata"] == "age", "feature"]) & set(
            adata.var_names[EFFECT_GROUP:EFFECT_GROUP + EFFECT_AGE])
        print(f"diff_abundance_dask: {t_da:.1f} s; {len(res)} rows; planted group effects found "
              f"{len(found_g)}/{EFFECT_GROUP}, age effects {len(found_a)}/{EFFECT_AGE}; client peak RSS "
              f"{peak_rss_mb():.0f} MB", flush=True)
        t0 = time.perf_counter()
        idx = gp.sample_indices_dask(adata, indices=["shannon", "simpson", "observed_features", "gmhi", "gmwi2"],
                                     client=client)
        t_ix = time.perf_counter() - t0
        print(f"sample_indices_dask (shannon, simpson, observed_features, gmhi, gmwi2): {t_ix:.1f} s; "
              f"means {idx.mean().round(3).to_dict()}; client peak RSS {peak_rss_mb():.0f} MB", flush=True)
        peak = peak_rss_mb()
        print(f"\nclient peak RSS over the whole run: {peak:.0f} MB (bound 1,536 MB): "
              f"{'OK' if peak < 1536 else 'EXCEEDED'}")
        record("MaAsLin2 on Dask (sample chunks)", f"{args.n:,}×{args.f}", None, None, t_da,
               note=f"client peak RSS {peak:.0f} MB; {gp.n_threads(client)} worker threads")
        if args.check:
            import gutbrain as gb

            m = args.check
            small = build(m, args.f, args.chunk, args.seed)
            ref = gb.tl.diff_abundance(_in_memory(small), formula="~ group + age")
            got = gp.diff_abundance_dask(small, formula="~ group + age", client=client)
            key = ["feature", "metadata", "value"]
            ref, got = (t.sort_values(key).reset_index(drop=True) for t in (ref, got))
            rel = {c: float(np.max(np.abs(got[c] - ref[c]) / np.maximum(np.abs(ref[c]), 1e-300)))
                   for c in ("coef", "stderr", "pval", "qval")}
            print(f"check on the first {m:,} samples, Dask vs in process (max relative difference): {rel}")


def _in_memory(adata):
    out = adata.copy()
    out.X = np.asarray(adata.X.compute())
    return out


if __name__ == "__main__":
    main()
