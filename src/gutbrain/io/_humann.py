"""HUMAnN 2/3 gene-family and pathway tables (single or joined, stratified or not) → AnnData.

HUMAnN (Franzosa et al. 2018, doi:10.1038/s41592-018-0176-y; Beghini et al. 2021,
doi:10.7554/eLife.65088) writes one row per function, optionally followed by rows
``FUNCTION|g__Genus.s__Species`` and ``FUNCTION|unclassified`` that split it by contributing
taxon.  ``UNMAPPED``/``UNINTEGRATED`` (and ``UNGROUPED`` after regrouping) are not functions:
their community totals go to ``obs``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import new_adata
from .._errors import DataValueError, GutbrainError, InputFormatError
from .._taxonomy import normalize_name
from . import _guard
from ._tables import (
    _DECOMPRESS_ERRORS,
    _check_file,
    _check_unique,
    _Grid,
    _numeric_block,
    _open_text,
    _parser_error,
    _PrefixedReader,
    _sniff_header,
    _split_header,
    _truncated_error,
)

__all__ = ["read_humann"]

PathLike = str | os.PathLike[str]

_SPECIAL = {"UNMAPPED": "unmapped", "UNINTEGRATED": "unintegrated", "UNGROUPED": "ungrouped"}
_SUFFIX_RE = re.compile(
    r"(?:[_-](?:Abundance|Coverage|RPKs?|CPM|RELAB|relab|cpm|rpks?|genefamilies|pathabundance|"
    r"pathcoverage|pathways?|gene_families)(?:-(?:RPKs?|CPM|RELAB))?)+$",
    re.IGNORECASE,
)
_STRATUM_RE = re.compile(r"^g__(?P<genus>[^.]*)(?:\.s__(?P<species>.*))?$")


def _unit_from_columns(columns: list[str]) -> tuple[str, str]:
    units = set()
    for c in columns:
        low = c.lower()
        if "rpk" in low:
            units.add("rpk")
        elif "cpm" in low:
            units.add("cpm")
        elif "relab" in low:
            units.add("relative")
        else:
            units.add("abundance")
    if len(units) == 1:
        unit = units.pop()
        return unit, "column-name suffix" if unit != "abundance" else "no unit suffix"
    return "abundance", f"mixed column suffixes ({sorted(units)})"


def _sample_name(column: str) -> str:
    name = _SUFFIX_RE.sub("", column.strip())
    return name or column.strip()


def read_humann(path: PathLike, *, stratified: bool | str = False) -> AnnData:
    """Read a HUMAnN gene-family or pathway table (``humann`` or ``humann_join_tables`` output).

    Also reads other function tables with the same layout, e.g. KEGG-orthology tables
    (``K00001`` rows) such as PICRUSt2's ``pred_metagenome_unstrat.tsv`` (``function``
    header); :func:`gutbrain.io.read` sends those to :func:`read_table`, which gives the
    same matrix.

    Parameters
    ----------
    path
        The table (optionally gzip/bz2/xz-compressed).
    stratified
        ``False`` keeps community totals (rows without ``|``); ``True`` keeps the
        per-taxon rows (``FUNCTION|g__Genus.s__Species`` and ``FUNCTION|unclassified``);
        ``"both"`` keeps every row.

    Returns
    -------
    AnnData
        Samples × functions.  ``var`` holds ``function`` (id), ``description`` (text after
        ``": "`` in renamed tables), ``stratum`` (raw taxon part), ``genus`` and ``species``.
        ``obs`` holds ``unmapped``/``unintegrated``/``ungrouped`` community totals when
        present.  The unit comes from the column-name suffix: ``-RPKs`` → ``rpk``,
        ``-CPM``/``cpm`` → ``cpm``, ``relab`` → ``relative``, otherwise ``abundance``.
        Sample names drop ``_Abundance``, ``-RPKs``, ``_genefamilies`` … suffixes.

    Raises
    ------
    InputFormatError, DataValueError
        Malformed tables, duplicate names, non-numeric/empty/negative values, or no row of
        the requested kind (e.g. ``stratified=False`` on a stratified-only table).
    """
    if stratified not in (False, True, "both"):
        raise GutbrainError(
            f"stratified must be False, True or 'both', not {stratified!r}",
            fix="pass stratified=False for community totals",
        )
    p = _check_file(path)
    try:
        with _open_text(p) as fh:
            header_line, first, header_lineno, _ = _sniff_header(fh, p, "\t")
            header = _split_header(header_line, "\t")
            _guard.check_columns(len(header), label=p, line=header_lineno)
            if len(header) < 2:
                found = next((c for c in (",", ";") if c in header_line), None)
                raise InputFormatError(
                    "only one column found; HUMAnN tables are tab-separated"
                    + (f" but the header contains {found!r}" if found else ""),
                    path=p,
                    line=header_lineno,
                    fix="pass the tab-separated table written by humann / humann_join_tables",
                )
            _check_unique(header[1:], path=p, line=header_lineno, what="column")
            names = ["__id__", *header[1:]]
            try:
                frame = pd.read_csv(
                    _PrefixedReader(first, fh),
                    sep="\t",
                    header=None,
                    names=names,
                    dtype={"__id__": str},
                    engine="c",
                    low_memory=False,
                    quotechar=None,
                    quoting=3,
                )
            except pd.errors.EmptyDataError:
                frame = pd.DataFrame(columns=names)
            except pd.errors.ParserError as exc:
                raise _parser_error(p, exc, header_lineno, "\t") from exc
    except _DECOMPRESS_ERRORS as exc:
        raise _truncated_error(p, exc) from exc
    ids = frame.pop("__id__").fillna("").astype(str).str.strip()
    frame.index = pd.Index(ids)
    grid = _Grid(
        frame,
        first_header=header[0],
        first_data_line=header_lineno + 1,
        line_of_row=None,
        sep="\t",
        source="humann",
    )
    values, cols, annot = _numeric_block(grid, p)
    if annot.shape[1]:
        raise DataValueError(
            f"non-numeric column {annot.columns[0]!r}",
            path=p,
            line=header_lineno,
            column=str(annot.columns[0]),
            fix="a HUMAnN table holds one numeric column per sample",
        )
    samples = [_sample_name(c) for c in cols]
    _check_unique(samples, path=p, line=header_lineno, what="column")
    unit, unit_rule = _unit_from_columns(list(cols))

    parts = ids.str.split("|", n=1)
    base = parts.str[0].to_numpy(dtype=object)
    stratum = parts.str[1].fillna("").to_numpy(dtype=object)
    is_strat = stratum != ""
    special = np.isin(base, list(_SPECIAL))
    obs = pd.DataFrame(index=pd.Index(samples))
    for key, col in _SPECIAL.items():
        rows = np.flatnonzero((base == key) & ~is_strat)
        if rows.size:
            obs[col] = values[rows[0]]
    if stratified == "both":
        keep = ~special
    elif stratified:
        keep = ~special & is_strat
    else:
        keep = ~special & ~is_strat
    if not keep.any():
        have = "stratified" if (~special & is_strat).any() else "community"
        raise DataValueError(
            f"no {'stratified' if stratified is True else 'community'} function rows "
            f"(the table has only {have} rows)",
            path=p,
            fix=f"pass stratified={'True' if have == 'stratified' else 'False'}",
        )
    feats = ids[keep]
    fb = pd.Series(base[keep], dtype=object)
    split = fb.str.split(": ", n=1)
    st = pd.Series(stratum[keep], dtype=object)
    m = st.str.extract(_STRATUM_RE)
    genus = m["genus"].fillna("").map(normalize_name)
    species = m["species"].fillna("").map(lambda s: normalize_name(s, rank="species"))
    var = pd.DataFrame(
        {
            "function": split.str[0].to_numpy(dtype=object),
            "description": split.str[1].fillna("").to_numpy(dtype=object),
            "stratum": st.to_numpy(dtype=object),
            "genus": genus.to_numpy(dtype=object),
            "species": species.to_numpy(dtype=object),
        },
        index=pd.Index(feats),
    ).astype(str)
    kind = {"# gene family": "genefamilies", "# pathway": "pathways"}.get(
        header[0].strip().lower(), "functions"
    )
    params = {
        "format": "humann",
        "table": kind,
        "stratified": stratified,
        "unit_rule": unit_rule,
        "columns": list(cols)[:50],
        "n_special_stratified_rows_dropped": int((special & is_strat).sum()),
    }
    return new_adata(
        values[keep].T,
        obs_names=samples,
        var_names=list(feats),
        unit=unit,
        reader="read_humann",
        var=var,
        obs=obs,
        inputs={"table": (Path(p), "humann")},
        params=params,
    )
