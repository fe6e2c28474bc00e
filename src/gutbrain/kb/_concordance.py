"""Which published conditions does a cohort resemble? Direction concordance per condition.

For one term of a differential-abundance (DA) result, the cohort's significant genera
are compared, condition by condition, with the directions published for the same
genera in the stored signatures (BugSigDB, Disbiome, curated rows).

Votes
    Signatures are not independent: one study often reports several (body sites,
    time points, sub-groups, UP and DOWN lists).  So each **study** casts one vote
    per genus and condition: the sign of (signatures listing it UP − signatures
    listing it DOWN); ties cast no vote.  A genus's **published direction** for the
    condition is the majority of study votes (ties: no direction).
Contrasts
    By default only signatures that compare cases with controls are used: group 0
    is the control group (``case_vs_control``), or group 1 is and the direction is
    turned round (``control_vs_case``); see :func:`gutbrain.kb._vocab.contrast_kind`.
    ``contrasts="all"`` uses every signature as recorded.
Test
    The cohort's significant genera that have a published direction for the
    condition are its informative genera; ``concordant`` / ``discordant`` count
    those whose cohort direction equals / opposes the published one.  The p-value
    uses the strength of the published evidence too: the score

    ``S = sum over significant genera of (cohort sign) × (studies up − studies down)``

    counts agreeing minus disagreeing study votes.  The null hypothesis of **no
    agreement** is that the condition's per-genus vote balances are exchangeable
    across the genera the cohort tested (the genera of the DA table with at least
    one study vote for the condition): which genera the literature calls up has
    nothing to do with which the cohort calls up.  ``pval`` = P(S ≥ observed) under
    that permutation over genera, computed exactly by dynamic programming over the
    distinct vote balances (a normal approximation with the exact permutation mean
    and variance, continuity-corrected, when the exact computation would exceed
    about 3·10⁷ operations; ``attrs["approximate"]`` lists those conditions).
    Because the vote balances come from the condition's own genera, a condition
    whose signatures mostly say "decreased" is not mistaken for agreement with a
    cohort whose genera mostly decreased (a 50 % coin would be); because strong,
    replicated findings weigh more than single reports, a cohort whose up-genera
    are exactly those every study of the condition reports up (Fusobacterium,
    Parvimonas, Peptostreptococcus in colorectal cancer) ranks that condition first
    even when nearly all its hits go up (Fisher's exact test on the hits' 2×2 table
    conditions on both margins and loses that signal).  Conditions with fewer than
    ``min_taxa`` informative genera are listed but not tested (p NaN).
    Benjamini–Hochberg across the tested conditions gives ``qval``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import DataValueError, InputFormatError
from ._enrich import bh
from ._taxa import parse_name, taxon_index

__all__ = ["ENRICH_COLUMNS", "concordance_pvalue", "enrich", "read_da_table"]

#: Leading columns of :func:`enrich` results.
ENRICH_COLUMNS = ("condition", "signatures", "studies", "taxa", "concordant", "discordant",
                  "concordance", "score", "expected_score", "pval", "qval", "condition_id",
                  "concordant_taxa", "discordant_taxa")

_FEATURE = ("feature", "taxon", "genus", "name", "clade", "Taxon")
_EFFECT = ("coef", "log2fc", "log2FoldChange", "lfc", "logFC", "effect", "estimate", "beta")
_QVAL = ("qval", "q_value", "qvalue", "padj", "fdr", "FDR", "q")


def read_da_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a DA result (TSV/CSV, e.g. ``gutbrain da`` output or MaAsLin2 ``all_results.tsv``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputFormatError(f"cannot read the DA table: {exc.strerror}", path=p,
                               fix="check the path") from None
    except UnicodeDecodeError:
        raise InputFormatError("not UTF-8 text", path=p, fix="pass a tab-separated DA table") from None
    first = text.split("\n", 1)[0]
    sep = "\t" if "\t" in first else ","
    try:
        import io

        df = pd.read_csv(io.StringIO(text), sep=sep, dtype={"feature": str, "metadata": str,
                                                             "value": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFormatError(f"cannot parse the DA table: {exc}", path=p,
                               fix="pass a tab-separated table with a header") from None
    if df.empty:
        raise InputFormatError("the DA table holds no rows", path=p, line=1,
                               fix="pass the results of a differential-abundance run")
    df.attrs["path"] = str(p)
    return df


def _pick(df: pd.DataFrame, given: str | None, options: Iterable[str], what: str, path: str) -> str:
    if given is not None:
        if given not in df.columns:
            raise InputFormatError(f"the DA table has no column {given!r}", path=path, line=1,
                                   fix=f"use one of {list(df.columns)}")
        return given
    col = next((c for c in options if c in df.columns), None)
    if col is None:
        raise InputFormatError(f"the DA table has no {what} column", path=path, line=1,
                               fix=f"name it one of {list(options)} or pass it explicitly")
    return col


def _select_term(df: pd.DataFrame, term: str | None, path: str) -> pd.DataFrame:
    if "metadata" not in df.columns:
        return df
    meta = df["metadata"].astype(str)
    val = df["value"].astype(str) if "value" in df.columns else pd.Series("", index=df.index)
    labels = sorted(set(meta + ":" + val)) if "value" in df.columns else sorted(set(meta))
    if term is None:
        if meta.nunique() == 1 and val.nunique() == 1:
            return df
        raise DataValueError("the DA table holds several terms; choose one", path=path,
                             fix=f"pass --term, one of {labels[:12]}")
    t = term.strip()
    keep = ((meta == t) | (meta + val == t) | (meta + ":" + val == t) | (meta + "=" + val == t)
            | (val == t))
    if "metadata" in df.columns and (meta == t).any() and val[meta == t].nunique() > 1:
        raise DataValueError(f"term {t!r} has several levels", path=path,
                             fix=f"pass one of {[x for x in labels if x.startswith(t + ':')][:12]}")
    if not keep.any():
        raise DataValueError(f"no rows for term {t!r}", path=path,
                             fix=f"pass one of {labels[:12]}")
    return df[keep]


_EXACT_LIMIT = 3e7


def _comb(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    from scipy.special import comb

    return np.asarray(comb(n, k, exact=False), dtype=float)


def concordance_pvalue(weights: Iterable[int], n_up: int, n_down: int, score: int) -> tuple[float, bool]:
    """P(S >= score) when ``n_up`` + ``n_down`` genera are drawn at random from ``weights``.

    ``S`` is the sum of the weights drawn for the "up" genera minus those drawn for
    the "down" genera (all assignments of distinct genera equally likely).

    Parameters
    ----------
    weights
        Integer vote balance (studies up − studies down) of every genus in the
        permutation universe.
    n_up, n_down
        Cohort genera going up / down among them.
    score
        Observed ``S``.

    Returns
    -------
    p, exact
        The upper-tail probability and whether it was computed exactly (else the
        continuity-corrected normal approximation).

    Examples
    --------
    >>> concordance_pvalue([3, 1, 0, -2], 1, 1, 5)   # only up=3, down=-2 reaches 5
    (0.08333333333333333, True)
    """
    w = np.asarray(list(weights), dtype=np.int64)
    N, n = w.size, n_up + n_down
    if n == 0 or N < n:
        return float("nan"), True
    nz = w[w != 0]
    m0 = N - nz.size
    vals, mult = np.unique(nz, return_counts=True)
    R = int(np.abs(nz).sum())
    cells = (n_up + 1) * (n_down + 1) * (2 * R + 1)
    ops = cells * sum((min(m, n_up) + 1) * (min(m, n_down) + 1) for m in mult)
    if ops > _EXACT_LIMIT:
        a = np.zeros(N)
        a[:n_up], a[n_up:n] = 1.0, -1.0
        mean = N * a.mean() * w.mean()
        var = ((a - a.mean()) ** 2).sum() * ((w - w.mean()) ** 2).sum() / (N - 1)
        if var <= 0:
            return (1.0 if score <= mean else 0.0), False
        return float(stats.norm.sf((score - 0.5 - mean) / np.sqrt(var))), False
    width = 2 * R + 1
    f = np.zeros((n_up + 1, n_down + 1, width))
    f[0, 0, R] = 1.0
    for v, m in zip(vals.tolist(), mult.tolist(), strict=True):
        g = np.zeros_like(f)
        for x in range(min(m, n_up) + 1):
            for y in range(min(m - x, n_down) + 1):
                ways = float(math.comb(m, x) * math.comb(m - x, y))
                sh = (x - y) * v
                src = f[: n_up + 1 - x, : n_down + 1 - y]
                if sh >= 0:
                    g[x:, y:, sh:] += ways * src[:, :, : width - sh]
                else:
                    g[x:, y:, :sh] += ways * src[:, :, -sh:]
        f = g / g.sum()
    a = np.arange(n_up + 1)[:, None]
    b = np.arange(n_down + 1)[None, :]
    ra, rb = n_up - a, n_down - b
    fill = np.where(m0 - ra >= rb, _comb(m0, ra) * _comb(np.maximum(m0 - ra, 0), rb), 0.0)
    dist = (f * fill[:, :, None]).sum(axis=(0, 1))
    idx = int(score) + R
    if idx <= 0:
        return 1.0, True
    if idx >= width:
        return 0.0, True
    return float(min(1.0, dist[idx:].sum() / dist.sum())), True


def _per_kb(kb: Any, key: Any, make: Any) -> Any:
    """``make()`` computed once per knowledge-base content (treat it as read-only)."""
    from ._store import derived

    return derived(kb, ("enrich", key), make)


def _taxon_taxids(kb: Any) -> dict[str, int]:
    def make() -> dict[str, int]:
        tax = kb.sql("SELECT taxon_id, ncbi_taxid, rank FROM taxon WHERE ncbi_taxid IS NOT NULL")
        return dict(zip(tax["taxon_id"], tax["ncbi_taxid"].astype(int), strict=True))

    return _per_kb(kb, "taxon_taxids", make)


def _genus_names(kb: Any) -> dict[int, str]:
    def make() -> dict[int, str]:
        names = kb.sql("SELECT ncbi_taxid, name FROM taxon WHERE ncbi_taxid IS NOT NULL "
                       "AND rank='genus'")
        return dict(zip(names["ncbi_taxid"].astype(int), names["name"], strict=False))

    return _per_kb(kb, "genus_names", make)


def _genus_taxids(names: list[str], kb: Any) -> tuple[list[int | None], list[str]]:
    """NCBI genus taxid of each feature name (species → their genus); unresolved names."""
    index = taxon_index(kb)
    tid2 = _taxon_taxids(kb)
    out: list[int | None] = []
    bad: list[str] = []
    items: list[tuple[bool, str, str, int | None]] = []  # (bracketed, text, genus name, taxid)
    for raw in names:
        name, rank, taxid = parse_name(raw)
        text = str(raw)
        # a bracketed Greengenes genus ([Ruminococcus], [Eubacterium]) is not the NCBI genus
        bracketed = "[" in text.split(";")[-1] or (rank == "genus" and "g__[" in text)
        if rank == "species" and name:  # species count for their genus
            name = name.split()[0]
        items.append((bracketed, text, name, taxid))
    # every distinct name is matched once, all of them together
    todo = list(dict.fromkeys(n for br, _, n, t in items if not br and n and t is None))
    matched = dict(zip(todo, index.match_each(todo), strict=True))
    for bracketed, text, name, taxid in items:
        if bracketed:
            out.append(None)
            bad.append(text)
            continue
        if taxid is not None:
            out.append(taxid)
            continue
        rec = matched[name] if name else {"taxon_id": None}
        t = rec.get("taxon_id")
        if t is not None and index.names[t][1] == "genus" and t in tid2:
            out.append(int(tid2[t]))
        else:
            out.append(None)
            bad.append(text)
    return out, bad


def _votes(kb: Any, *, contrasts: str, host: str | None,
           exclude_studies: Iterable[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (condition, study, genus) study votes, and the signatures used (cached per base;
    treat both as read-only)."""
    if contrasts not in ("case_vs_control", "all"):
        raise DataValueError(f"unknown contrasts {contrasts!r}", fix="use 'case_vs_control' or 'all'")
    excl = frozenset(str(x).strip() for x in exclude_studies if str(x).strip())
    return _per_kb(kb, ("votes", contrasts, host, tuple(sorted(excl))),
                   lambda: _compute_votes(kb, contrasts=contrasts, host=host, excl=excl))


def _compute_votes(kb: Any, *, contrasts: str, host: str | None,
                   excl: frozenset[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    sig, mem = _per_kb(kb, "signatures", lambda: (
        kb.sql("SELECT sig_id, pub_id, study, condition_id, condition, contrast_kind, "
               "host_species, direction, url FROM signature WHERE direction IN ('UP','DOWN')"),
        kb.sql("SELECT sig_id, ncbi_taxid FROM signature_member")))
    if contrasts == "case_vs_control":
        sig = sig[sig["contrast_kind"].isin(["case_vs_control", "control_vs_case"])].copy()
    else:
        sig = sig.copy()
    sign = np.where(sig["direction"] == "UP", 1, -1)
    sig["sign"] = np.where(sig["contrast_kind"] == "control_vs_case", -sign, sign)
    if host:
        from ._schema import host_class

        hc = sig["host_species"].map(host_class)
        sig = sig[(hc == host) | (sig["host_species"] == host)]
    if excl:
        pm = {f"pmid:{x}" for x in excl}
        sig = sig[~(sig["study"].astype(str).isin(excl) | sig["pub_id"].isin(excl | pm))]
    m = mem.merge(sig[["sig_id", "pub_id", "condition_id", "sign"]], on="sig_id")
    votes = (m.groupby(["condition_id", "pub_id", "ncbi_taxid"], sort=False)["sign"].sum()
             .reset_index())
    votes = votes[votes["sign"] != 0]
    votes["sign"] = np.sign(votes["sign"]).astype(int)
    return votes, sig


def enrich(
    da: Any,
    term: str | None = None,
    *,
    alpha: float = 0.05,
    feature_col: str | None = None,
    effect_col: str | None = None,
    q_col: str | None = None,
    contrasts: str = "case_vs_control",
    host: str | None = None,
    min_taxa: int = 3,
    exclude_studies: Iterable[str] = (),
    kb: Any = None,
) -> pd.DataFrame:
    """Rank published conditions by how well their signatures agree with a cohort's DA.

    Parameters
    ----------
    da
        A DA table (DataFrame or path to a TSV/CSV, e.g. ``gutbrain da`` or MaAsLin2
        output) or an AnnData holding ``uns["diff_abundance"]["results"]``.  Features
        are genus names (any naming, lineages accepted) or NCBI taxids; species are
        counted for their genus.  When several features map to one genus the one with
        the smallest q-value speaks for it.
    term
        The DA term (``metadata`` column; ``metadata:value`` or ``metadatavalue`` when
        the term has several levels).  Optional when the table holds one term.
    alpha
        q-value below which a genus is one of the cohort's significant genera.
    feature_col, effect_col, q_col
        Column names; guessed from common names when omitted.
    contrasts
        ``"case_vs_control"`` (default; see the module docstring) or ``"all"``.
    host
        Keep signatures of this host class (``"human"``, ``"animal"``, ``"unknown"``)
        or binomial.  The shipped BugSigDB rows do not record the host (class
        ``"unknown"``); importing the full BugSigDB dump fills it.
    min_taxa
        Conditions with fewer informative genera are not tested.
    exclude_studies
        Study ids or PMIDs left out (e.g. the cohort's own publication).
    kb
        Knowledge base (default :func:`gutbrain.kb.load`).

    Returns
    -------
    pandas.DataFrame
        One row per condition with at least one informative genus, sorted by
        ``qval`` then ``pval``: :data:`ENRICH_COLUMNS` (``score`` is the agreeing
        minus disagreeing study votes, ``expected_score`` its mean under the null).  ``attrs["detail"]`` has one
        row per (condition, genus): cohort and published directions, the agreeing and
        disagreeing studies; ``attrs["unresolved"]`` lists features without a genus
        taxid; ``attrs["params"]`` the parameters; ``attrs["test"]`` names the test.

    Examples
    --------
    >>> import pandas as pd, gutbrain as gb
    >>> hits = {"Akkermansia": 1.2, "Lactobacillus": 0.9, "Bifidobacterium": 0.7,
    ...         "Faecalibacterium": -1.0, "Roseburia": -0.8, "Prevotella": -0.5}
    >>> rest = ["Bacteroides", "Blautia", "Ruminococcus", "Alistipes", "Streptococcus",
    ...         "Escherichia", "Dorea", "Coprococcus", "Veillonella", "Sutterella"]
    >>> da = pd.DataFrame({"feature": [*hits, *rest],
    ...                    "coef": [*hits.values()] + [0.1] * len(rest),
    ...                    "qval": [0.01] * len(hits) + [0.6] * len(rest)})
    >>> res = gb.kb.enrich(da)
    >>> print(*res.loc[0, ["condition", "concordant", "discordant"]], sep=" | ")
    Parkinson's disease | 6 | 0
    """
    from ._store import load

    kb = load() if kb is None else kb
    path = "DA table"
    if hasattr(da, "uns") and hasattr(da, "var"):
        res = (da.uns.get("diff_abundance") or {}).get("results")
        if not isinstance(res, pd.DataFrame):
            raise DataValueError("the AnnData has no differential-abundance results",
                                 fix="run gb.tl.diff_abundance first")
        da = res
    elif isinstance(da, (str, os.PathLike)):
        path = str(da)
        da = read_da_table(da)
    if not isinstance(da, pd.DataFrame):
        raise DataValueError(f"cannot read a DA result from a {type(da).__name__}",
                             fix="pass a DataFrame, a TSV path or an AnnData")
    df = _select_term(da, term, path)
    if feature_col is None and not any(c in df.columns for c in _FEATURE):
        df = df.rename_axis("feature").reset_index()
    fcol = _pick(df, feature_col, _FEATURE, "feature", path)
    ecol = _pick(df, effect_col, _EFFECT, "effect (coef / log fold change)", path)
    qcol = _pick(df, q_col, _QVAL, "q-value", path)
    q = pd.to_numeric(df[qcol], errors="coerce")
    eff = pd.to_numeric(df[ecol], errors="coerce")
    taxids, bad = _genus_taxids(df[fcol].astype(str).tolist(), kb)
    tab = pd.DataFrame({"feature": df[fcol].astype(str).to_numpy(), "ncbi_taxid": taxids,
                        "q": q.to_numpy(), "effect": eff.to_numpy()})
    n_features = len(tab)
    tab = tab.dropna(subset=["ncbi_taxid", "q", "effect"])
    tab = tab.sort_values("q", kind="stable").drop_duplicates("ncbi_taxid")
    hits = tab[(tab["q"] <= alpha) & (tab["effect"] != 0)].copy()
    hits["ncbi_taxid"] = hits["ncbi_taxid"].astype(int)
    hits["cohort"] = np.sign(hits["effect"]).astype(int)
    votes, sigs = _votes(kb, contrasts=contrasts, host=host, exclude_studies=exclude_studies)
    genus_name = _genus_names(kb)
    tested = set(tab["ncbi_taxid"].astype(int))
    uv = votes[votes["ncbi_taxid"].isin(tested)]
    allper = (uv.assign(up=uv["sign"] > 0, down=uv["sign"] < 0)
              .groupby(["condition_id", "ncbi_taxid"])[["up", "down"]].sum().reset_index())
    allper["net"] = allper["up"].astype(int) - allper["down"].astype(int)
    allper["published"] = np.sign(allper["net"])
    weights = allper.groupby("condition_id")["net"].agg(list)
    v = votes[votes["ncbi_taxid"].isin(hits["ncbi_taxid"])]
    per = allper[allper["ncbi_taxid"].isin(hits["ncbi_taxid"])]
    per = per.merge(hits[["ncbi_taxid", "feature", "q", "effect", "cohort"]], on="ncbi_taxid")
    per["taxon"] = per["ncbi_taxid"].map(genus_name).fillna(per["feature"])
    per["agrees"] = np.where(per["published"] == 0, np.nan, per["published"] == per["cohort"])
    refs = v.merge(hits[["ncbi_taxid", "cohort"]], on="ncbi_taxid")
    refs["agree"] = refs["sign"] == refs["cohort"]
    # {(condition, genus, agrees): sorted distinct studies}
    ref_lists: dict[tuple[Any, Any, Any], list[str]] = {}
    uniq = (refs[["condition_id", "ncbi_taxid", "agree", "pub_id"]].drop_duplicates()
            .sort_values("pub_id", kind="stable"))
    for c, t, a, pub in uniq.itertuples(index=False, name=None):
        ref_lists.setdefault((c, t, a), []).append(pub)
    cond_names = sigs.drop_duplicates("condition_id").set_index("condition_id")["condition"]
    n_sig = sigs.groupby("condition_id")["sig_id"].nunique()
    n_study = sigs.groupby("condition_id")["pub_id"].nunique()
    inf = per[per["published"] != 0]
    agg = pd.DataFrame({
        "taxa": inf.groupby("condition_id").size(),
        "concordant": (inf["agrees"] == 1).groupby(inf["condition_id"]).sum(),
        "score": (per["cohort"] * per["net"]).groupby(per["condition_id"]).sum(),
        "n1": (per["cohort"] > 0).groupby(per["condition_id"]).sum(),
        "n2": (per["cohort"] < 0).groupby(per["condition_id"]).sum(),
    }).dropna(subset=["taxa"]).astype(int)
    join = lambda x: ", ".join(sorted(x))  # noqa: E731
    conc_t = inf[inf["agrees"] == 1].groupby("condition_id")["taxon"].agg(join)
    disc_t = inf[inf["agrees"] == 0].groupby("condition_id")["taxon"].agg(join)
    rows = []
    approx = []
    for cid, taxa, concordant, score, n1, n2 in agg[["taxa", "concordant", "score", "n1", "n2"]
                                                    ].itertuples(name=None):
        w = np.asarray(weights[cid], dtype=np.int64)
        p = np.nan
        if taxa >= min_taxa:
            p, exact = concordance_pvalue(w, n1, n2, score)
            if not exact:
                approx.append(str(cond_names.get(cid, cid)))
        rows.append({
            "condition": cond_names.get(cid, cid), "signatures": int(n_sig.get(cid, 0)),
            "studies": int(n_study.get(cid, 0)), "taxa": taxa,
            "concordant": concordant, "discordant": taxa - concordant,
            "concordance": concordant / taxa, "score": score,
            "expected_score": (n1 - n2) * float(w.mean()), "pval": float(p),
            "condition_id": cid, "concordant_taxa": conc_t.get(cid, ""),
            "discordant_taxa": disc_t.get(cid, ""),
        })
    res = pd.DataFrame(rows, columns=[c for c in ENRICH_COLUMNS if c != "qval"])
    res["qval"] = bh(res["pval"].to_numpy(dtype=float)) if len(res) else []
    res = (res.sort_values(["qval", "pval", "score"], ascending=[True, True, False],
                           na_position="last", kind="stable")
           .reindex(columns=list(ENRICH_COLUMNS)).reset_index(drop=True))
    detail = per.assign(condition=per["condition_id"].map(cond_names))
    keys = list(zip(detail["condition_id"], detail["ncbi_taxid"], strict=True))
    detail["agreeing_studies"] = [ref_lists.get((c, t, True), []) for c, t in keys]
    detail["disagreeing_studies"] = [ref_lists.get((c, t, False), []) for c, t in keys]
    detail = detail.rename(columns={"up": "studies_up", "down": "studies_down", "q": "cohort_q",
                                    "effect": "cohort_effect"})
    detail["cohort_direction"] = np.where(detail["cohort"] > 0, "up", "down")
    detail["published_direction"] = detail["published"].map({1: "up", -1: "down", 0: "tie"})
    detail = detail[["condition", "condition_id", "taxon", "ncbi_taxid", "feature",
                     "cohort_direction", "cohort_effect", "cohort_q", "published_direction",
                     "studies_up", "studies_down", "agrees", "agreeing_studies",
                     "disagreeing_studies"]]
    res.attrs["detail"] = detail.reset_index(drop=True)
    res.attrs["unresolved"] = sorted(set(bad))
    res.attrs["params"] = {"term": term, "alpha": alpha, "contrasts": contrasts, "host": host,
                           "min_taxa": min_taxa, "exclude_studies": sorted(map(str, exclude_studies)),
                           "n_features": n_features, "n_genera_mapped": len(tab),
                           "n_significant": len(hits)}
    res.attrs["approximate"] = approx
    res.attrs["test"] = ("permutation test over the genera the cohort tested of the score "
                         "sum(cohort sign x (studies up - studies down)), one vote per study, "
                         "exact by dynamic programming; Benjamini-Hochberg across conditions")
    return res
