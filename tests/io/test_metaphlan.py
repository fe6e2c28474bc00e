"""gb.io.read_metaphlan: MetaPhlAn 2/3/4 single and merged profiles, MetAML, broken inputs."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gutbrain as gb
from gutbrain._errors import DataValueError, GutbrainError, InputFormatError
from tests.conftest import shared_path


def _shared(*parts: str) -> Path:
    return shared_path("data", *parts)


# --------------------------------------------------------------------------------------
# a small, internally consistent community (species → higher ranks are sums)
# --------------------------------------------------------------------------------------

LINEAGES = {
    "s__Bacteroides_vulgatus": (
        "k__Bacteria|p__Bacteroidetes|c__Bacteroidia|o__Bacteroidales|f__Bacteroidaceae|g__Bacteroides",
        "2|976|200643|171549|815|816|821",
        "SGB1814",
    ),
    "s__Bacteroides_uniformis": (
        "k__Bacteria|p__Bacteroidetes|c__Bacteroidia|o__Bacteroidales|f__Bacteroidaceae|g__Bacteroides",
        "2|976|200643|171549|815|816|820",
        "SGB1836",
    ),
    "s__Faecalibacterium_prausnitzii": (
        "k__Bacteria|p__Firmicutes|c__Clostridia|o__Clostridiales|f__Ruminococcaceae|g__Faecalibacterium",
        "2|1239|186801|186802|216572|216851|853",
        "SGB15318",
    ),
    "s__Roseburia_intestinalis": (
        "k__Bacteria|p__Firmicutes|c__Clostridia|o__Clostridiales|f__Lachnospiraceae|g__Roseburia",
        "2|1239|186801|186802|186803|841|166486",
        "SGB4951",
    ),
    "s__Methanobrevibacter_smithii": (
        "k__Archaea|p__Euryarchaeota|c__Methanobacteria|o__Methanobacteriales|f__Methanobacteriaceae|g__Methanobrevibacter",
        "2157|28890|183925|2158|2159|2172|2173",
        "SGB714",
    ),
}
SPECIES = list(LINEAGES)


def _clade_rows(abund: np.ndarray, *, strain: bool = False) -> list[tuple[str, str, np.ndarray]]:
    """(clade, taxid path, values) for every level, parents summing their children."""
    rows: dict[str, tuple[str, np.ndarray]] = {}
    for j, sp_name in enumerate(SPECIES):
        parent, taxids, sgb = LINEAGES[sp_name]
        levels = [*parent.split("|"), sp_name]
        ids = taxids.split("|")
        for depth in range(1, len(levels) + 1):
            clade = "|".join(levels[:depth])
            tid = "|".join(ids[:depth])
            prev = rows.get(clade, (tid, np.zeros(abund.shape[0])))[1]
            rows[clade] = (tid, prev + abund[:, j])
        if strain:
            clade = "|".join([*levels, f"t__{sgb}"])
            rows[clade] = ("|".join(ids) + "|", abund[:, j].copy())
    return [(c, t, v) for c, (t, v) in rows.items()]


def _fmt(x: float) -> str:
    return repr(float(x))


def write_mp2_single(path: Path, abund: np.ndarray, sample="Metaphlan2_Analysis") -> None:
    lines = [f"#SampleID\t{sample}"]
    lines += [f"{c}\t{_fmt(v[0])}" for c, _, v in _clade_rows(abund) if v[0] > 0]
    path.write_text("\n".join(lines) + "\n")


def write_mp3_single(
    path: Path, abund: np.ndarray, unknown: float, *, db="mpa_v30_CHOCOPhlAn_201901"
) -> None:
    scale = (100 - unknown) / 100
    lines = [
        f"#{db}",
        "#/usr/local/bin/metaphlan S1_R1.fastq.gz,S1_R2.fastq.gz --input_type fastq --unknown_estimation",
        "#SampleID\tMetaphlan_Analysis",
        "#clade_name\tNCBI_tax_id\trelative_abundance\tadditional_species",
        f"UNKNOWN\t-1\t{_fmt(unknown)}\t",
    ]
    lines += [f"{c}\t{t}\t{_fmt(v[0] * scale)}\t" for c, t, v in _clade_rows(abund) if v[0] > 0]
    path.write_text("\n".join(lines) + "\n")


def write_mp4_single(
    path: Path, abund: np.ndarray, unclassified: float, reads: int, sample: str
) -> None:
    scale = (100 - unclassified) / 100
    lines = [
        "#mpa_vJan21_CHOCOPhlAnSGB_202103",
        f"#/usr/bin/metaphlan {sample}.fq.gz --input_type fastq -t rel_ab_w_read_stats",
        f"#{reads} reads processed",
        f"#SampleID\t{sample}",
        "#clade_name\tclade_taxid\trelative_abundance\tcoverage\testimated_number_of_reads_from_the_clade",
        f"UNCLASSIFIED\t-1\t{_fmt(unclassified)}\t-\t{int(reads * unclassified / 100)}",
    ]
    for c, t, v in _clade_rows(abund, strain=True):
        if v[0] > 0:
            rel = v[0] * scale
            lines.append(f"{c}\t{t}\t{_fmt(rel)}\t1.5\t{round(reads * rel / 100)}")
    path.write_text("\n".join(lines) + "\n")


def write_merged(
    path: Path,
    abund: np.ndarray,
    samples: list[str],
    *,
    db="#mpa_vOct22_CHOCOPhlAnSGB_202212",
    taxid=True,
    strain=True,
    unknown=None,
) -> None:
    head = ["clade_name", *(["clade_taxid"] if taxid else []), *samples]
    lines = [db, "\t".join(head)] if db else ["\t".join(head)]
    if unknown is not None:
        lines.append("\t".join(["UNCLASSIFIED", *(["-1"] if taxid else []), *map(_fmt, unknown)]))
    for c, t, v in _clade_rows(abund, strain=strain):
        lines.append("\t".join([c, *([t] if taxid else []), *map(_fmt, v)]))
    path.write_text("\n".join(lines) + "\n")


def _community(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.dirichlet(np.full(len(SPECIES), 0.7), size=n) * 100
    a[a < 1] = 0.0
    return a / a.sum(axis=1, keepdims=True) * 100


# --------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------


def test_mp2_single_species_and_genus(tmp_path):
    ab = _community(1, seed=1)
    p = tmp_path / "S7_profile.txt"
    write_mp2_single(p, ab)
    ad = gb.io.read_metaphlan(p)
    assert ad.obs_names.tolist() == ["S7"]  # default #SampleID → file stem without _profile
    assert ad.uns["gutbrain"]["X_unit"] == "percent"
    present = [s for j, s in enumerate(SPECIES) if ab[0, j] > 0]
    assert ad.n_vars == len(present)
    got = pd.Series(gb._core.get_matrix(ad)[0], index=ad.var["species"])
    for j, s in enumerate(SPECIES):
        if ab[0, j] > 0:
            name = s[3:].replace("_", " ")
            assert got[name] == pytest.approx(ab[0, j])
    assert ad.var["genus"].tolist() == [
        ad.var["species"].iloc[i].split()[0] for i in range(ad.n_vars)
    ]
    assert np.isnan(ad.obs["unclassified_percent"].iloc[0])  # MetaPhlAn 2 has no UNKNOWN row
    gen = gb.io.read_metaphlan(p, rank="genus")
    bact = gb._core.get_matrix(gen)[0][gen.var["genus"] == "Bacteroides"]
    assert bact.sum() == pytest.approx(ab[0, :2].sum())


def test_mp3_single_unknown_taxid(tmp_path):
    ab = _community(1, seed=2)
    p = tmp_path / "SRR001_metaphlan.txt"
    write_mp3_single(p, ab, unknown=37.5)
    ad = gb.io.read_metaphlan(p)
    assert ad.obs_names.tolist() == ["SRR001"]
    assert ad.obs["unclassified_percent"].iloc[0] == pytest.approx(37.5)
    X = gb._core.get_matrix(ad)
    assert X.sum() == pytest.approx(100 - 37.5)  # species sum to the classified share
    taxids = dict(zip(ad.var["species"], ad.var["taxid"]))
    assert taxids.get("Faecalibacterium prausnitzii", "853") == "853"
    assert set(ad.var["taxid"]) <= {"821", "820", "853", "166486", "2173"}
    kept = gb.io.read_metaphlan(p, keep_unclassified=True)
    assert kept.n_vars == ad.n_vars + 1
    assert gb._core.get_matrix(kept).sum() == pytest.approx(100.0)
    assert kept.uns["gutbrain"]["params"]["database"] == ["mpa_v30_CHOCOPhlAn_201901"]


def test_mp4_single_strain_and_estimated_reads(tmp_path):
    ab = _community(1, seed=3)
    p = tmp_path / "x.txt"
    write_mp4_single(p, ab, unclassified=12.0, reads=2_000_000, sample="patient_12")
    ad = gb.io.read_metaphlan(p, rank="strain")
    assert ad.obs_names.tolist() == ["patient_12"]
    assert all(v.startswith("SGB") for v in ad.var["strain"])
    assert ad.obs["reads_processed"].iloc[0] == 2_000_000
    assert ad.uns["gutbrain"]["layer_units"]["estimated_reads"] == "counts"
    X = gb._core.get_matrix(ad)
    reads = np.asarray(ad.layers["estimated_reads"])
    np.testing.assert_allclose(reads, np.round(2_000_000 * X / 100))
    sp_ = gb.io.read_metaphlan(p, rank="species")
    np.testing.assert_allclose(np.sort(gb._core.get_matrix(sp_)[0]), np.sort(X[0]))
    assert ad.uns["gutbrain"]["params"]["layout"] == "metaphlan4"


def test_several_single_files_join(tmp_path):
    ab = _community(3, seed=4)
    paths = []
    for i in range(3):
        p = tmp_path / f"sample{i}.txt.gz"
        write_mp4_single(tmp_path / "tmp.txt", ab[i : i + 1], 5.0 * i, 10_000, f"S{i}")
        p.write_bytes(gzip.compress((tmp_path / "tmp.txt").read_bytes()))
        paths.append(p)
    ad = gb.io.read_metaphlan(paths)
    assert ad.obs_names.tolist() == ["S0", "S1", "S2"]
    X = gb._core.get_matrix(ad)
    for i in range(3):
        for j, s in enumerate(SPECIES):
            col = np.flatnonzero(ad.var_names.str.endswith(s))
            expect = ab[i, j] * (100 - 5.0 * i) / 100
            assert (X[i, col[0]] if col.size else 0.0) == pytest.approx(expect)
    np.testing.assert_allclose(ad.obs["unclassified_percent"], [0.0, 5.0, 10.0])
    assert "estimated_reads" in ad.layers
    assert len(ad.uns["gutbrain"]["inputs"]) == 3
    with pytest.raises(InputFormatError, match="occurs in several files"):
        gb.io.read_metaphlan([paths[0], paths[0]])


def test_merged_mp4_with_taxid(tmp_path):
    ab = _community(4, seed=5)
    p = tmp_path / "merged_abundance_table.txt"
    write_merged(p, ab, ["A", "B", "C", "D"], unknown=np.array([1.0, 2.0, 3.0, 4.0]))
    ad = gb.io.read_metaphlan(p)
    assert ad.obs_names.tolist() == ["A", "B", "C", "D"]
    np.testing.assert_allclose(ad.obs["unclassified_percent"], [1, 2, 3, 4])
    order = [next(i for i, v in enumerate(ad.var_names) if v.endswith(s)) for s in SPECIES]
    np.testing.assert_allclose(gb._core.get_matrix(ad)[:, order], ab)
    assert ad.var["taxid"].iloc[order[2]] == "853"
    phy = gb.io.read_metaphlan(p, rank="phylum")
    assert sorted(phy.var["phylum"]) == ["Bacteroidetes", "Euryarchaeota", "Firmicutes"]
    np.testing.assert_allclose(gb._core.get_matrix(phy).sum(axis=1), 100.0)


def test_merged_mp2_id_header(tmp_path):
    ab = _community(2, seed=6)
    p = tmp_path / "merged.tsv"
    write_merged(p, ab, ["x1", "x2"], db=None, taxid=False, strain=False)
    text = p.read_text().replace("clade_name", "ID", 1).split("\n", 1)
    p.write_text(text[0] + "\n#SampleID\tMetaphlan2_Analysis\tMetaphlan2_Analysis\n" + text[1])
    ad = gb.io.read_metaphlan(p)
    assert ad.obs_names.tolist() == ["x1", "x2"]
    assert "#SampleID" not in ad.obs.columns
    assert ad.n_vars == len(SPECIES)


@settings(max_examples=20, deadline=None)
# percentages: the parents sum their children, so a valid profile keeps every species ≤ 100/n
@given(st.lists(st.floats(0, 100 / len(SPECIES), allow_nan=False), min_size=len(SPECIES),
                max_size=len(SPECIES)))
def test_property_merged_roundtrip(tmp_path_factory, vals):
    ab = np.round(np.asarray([vals]), 5)
    p = tmp_path_factory.mktemp("mp") / "m.tsv"
    write_merged(p, ab, ["only"])
    if not (ab > 0).any():
        ad = gb.io.read_metaphlan(p)  # zeros are kept as rows in merged tables
        assert gb._core.get_matrix(ad).sum() == 0
        return
    ad = gb.io.read_metaphlan(p)
    order = [next(i for i, v in enumerate(ad.var_names) if v.endswith(s)) for s in SPECIES]
    np.testing.assert_allclose(gb._core.get_matrix(ad)[0, order], ab[0])
    dom = gb.io.read_metaphlan(p, rank="domain")
    assert gb._core.get_matrix(dom).sum() == pytest.approx(ab.sum())


# --------------------------------------------------------------------------------------
# broken inputs
# --------------------------------------------------------------------------------------


def _base(tmp_path: Path) -> Path:
    p = tmp_path / "broken_profile.txt"
    write_merged(p, _community(2, seed=7), ["A", "B"])
    return p


def _species_rows(lines: list[str]) -> list[int]:
    """0-based indices of the species-level rows (the rows parsed at rank='species')."""
    return [
        i for i, ln in enumerate(lines) if ln.split("\t")[0].rsplit("|", 1)[-1].startswith("s__")
    ]


def _assert_err(exc_info, path: Path, *, line: int | None = None):
    msg = str(exc_info.value)
    assert path.name in msg
    assert "Fix:" in msg
    if line is not None:
        assert f"line {line}" in msg


def test_broken_non_numeric(tmp_path):
    p = _base(tmp_path)
    lines = p.read_text().splitlines()
    i = _species_rows(lines)[1]
    lines[i] = lines[i].rsplit("\t", 1)[0] + "\tabc"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValueError, match="non-numeric value 'abc'") as e:
        gb.io.read_metaphlan(p)
    _assert_err(e, p, line=i + 1)


def test_broken_negative_and_nan(tmp_path):
    p = _base(tmp_path)
    lines = p.read_text().splitlines()
    i = _species_rows(lines)[2]
    lines[i] = lines[i].rsplit("\t", 1)[0] + "\t-1.5"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValueError, match="negative") as e:
        gb.io.read_metaphlan(p)
    _assert_err(e, p, line=i + 1)
    lines[i] = lines[i].rsplit("\t", 1)[0] + "\t"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValueError, match="empty or NA") as e:
        gb.io.read_metaphlan(p)
    _assert_err(e, p, line=i + 1)
    # a row at another rank with a missing cell is still caught (shape check)
    j = _species_rows(lines)[0] - 1
    lines[i] = lines[i].rsplit("\t", 1)[0] + "\t1.0"
    lines[j] = lines[j].rsplit("\t", 1)[0]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFormatError, match="fields") as e:
        gb.io.read_metaphlan(p)
    _assert_err(e, p, line=j + 1)


def test_broken_truncated(tmp_path):
    p = _base(tmp_path)
    text = p.read_text()
    p.write_text(text[: len(text) - 25])  # the last row loses its last cells
    with pytest.raises(GutbrainError) as e:
        gb.io.read_metaphlan(p)
    _assert_err(e, p)
    assert "line" in str(e.value)
    gz = tmp_path / "cut.txt.gz"
    gz.write_bytes(gzip.compress(text.encode())[:-30])
    with pytest.raises(InputFormatError, match="truncated") as e:
        gb.io.read_metaphlan(gz)
    _assert_err(e, gz)


def test_broken_duplicates_and_empty(tmp_path):
    p = _base(tmp_path)
    lines = p.read_text().splitlines()
    p.write_text("\n".join([*lines, lines[_species_rows(lines)[0]]]) + "\n")
    with pytest.raises(InputFormatError, match="duplicate clade") as e:
        gb.io.read_metaphlan(p)
    _assert_err(e, p, line=len(lines) + 1)
    q = tmp_path / "dupsamples.tsv"
    q.write_text(
        lines[0] + "\n" + lines[1].replace("\tB", "\tA") + "\n" + "\n".join(lines[2:]) + "\n"
    )
    with pytest.raises(InputFormatError, match="duplicate sample name 'A'") as e:
        gb.io.read_metaphlan(q)
    _assert_err(e, q, line=2)
    empty = tmp_path / "empty.txt"
    empty.write_text("#mpa_v30_CHOCOPhlAn_201901\n#SampleID\tMetaphlan_Analysis\n")
    with pytest.raises(DataValueError, match="no MetaPhlAn clade rows") as e:
        gb.io.read_metaphlan(empty)
    _assert_err(e, empty)
    with pytest.raises(DataValueError, match="rank 'strain'"):
        gb.io.read_metaphlan(tmp_path / "empty.txt" if False else _mp2(tmp_path), rank="strain")
    with pytest.raises(GutbrainError, match="rank must be"):
        gb.io.read_metaphlan(p, rank="subspecies")


def _mp2(tmp_path: Path) -> Path:
    p = tmp_path / "mp2.txt"
    write_mp2_single(p, _community(1, seed=8))
    return p


def test_broken_wrong_delimiter(tmp_path):
    p = _base(tmp_path)
    q = tmp_path / "semicolon.txt"
    q.write_text(p.read_text().replace("\t", ";"))
    with pytest.raises(GutbrainError) as e:
        gb.io.read_metaphlan(q)
    _assert_err(e, q)


# --------------------------------------------------------------------------------------
# real files
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metaml():
    path = _shared("metaml_pasolli2016_metaphlan2", "abundance.txt.bz2")
    return path, gb.io.read_metaphlan(path)


def test_metaml_shape_and_metadata(metaml):
    _path, ad = metaml
    # SOURCE.txt: 3,610 samples and "1291 species-level rows"; verified: 1,291 clades end in s__
    assert ad.shape == (3610, 1291)
    assert {"disease", "dataset_name", "bodysite", "age"} <= set(ad.obs.columns)
    assert ad.obs["age"].dtype.kind == "f"  # "nd" → NaN, the rest numeric
    # 243 sampleIDs repeat across datasets, so names are "dataset:sampleID" (all unique)
    assert ad.obs_names.is_unique and ad.obs_names[0] == "Candela_Africa:H10"
    # SOURCE.txt: Quin_gut_liver_cirrhosis 118 cirrhosis + 114 controls
    qin = ad.obs["dataset_name"] == "Quin_gut_liver_cirrhosis"
    assert qin.sum() == 232
    assert (ad.obs.loc[qin, "disease"] == "cirrhosis").sum() == 118
    X = gb._core.get_matrix(ad)
    assert X.min() >= 0 and X.sum(axis=1).max() <= 100.01
    assert ad.uns["gutbrain"]["params"]["layout"] == "metaml"


def test_metaml_values_match_raw_rows(metaml):
    """Parity: the first species row read by plain text parsing equals the matrix column."""
    path, ad = metaml
    with bz2.open(path, "rt") as fh:
        for line in fh:
            clade = line.split("\t", 1)[0]
            if clade.rsplit("|", 1)[-1].startswith("s__"):
                raw = np.array(line.rstrip("\n").split("\t")[1:], dtype=float)
                break
    j = ad.var_names.get_loc(clade)
    np.testing.assert_allclose(gb._core.get_matrix(ad)[:, j], raw)


def test_gmwi2_example_mp3():
    path = _shared("gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt")
    ad = gb.io.read_metaphlan(path)
    species_rows = [
        ln.split("\t")
        for ln in path.read_text().splitlines()
        if not ln.startswith("#") and ln.split("\t")[0].rsplit("|", 1)[-1].startswith("s__")
    ]
    assert ad.n_vars == len(species_rows) == 54  # 54 species rows in the profile
    np.testing.assert_allclose(
        gb._core.get_matrix(ad)[0].sum(), sum(float(r[2]) for r in species_rows)
    )
    assert ad.obs["unclassified_percent"].iloc[0] == pytest.approx(70.84224)
    assert ad.obs_names[0] == "example_SRR1761667"
    assert (ad.var["taxid"] != "").all()


def test_gmhi_csv_species_table():
    path = _shared("gmhi2020_health_index", "species_relative_abundances.csv")
    ad = gb.io.read_metaphlan(path)
    ref = pd.read_csv(path, index_col=0, encoding="utf-8-sig")
    assert ad.shape == (25, ref.shape[0]) == (25, 576)
    np.testing.assert_allclose(gb._core.get_matrix(ad), ref.to_numpy().T)
    assert ad.var.loc["s__Akkermansia_muciniphila", "genus"] == "Akkermansia"


def test_ferreiro_species_table_both_readers():
    path = _shared("ferreiro2023_preclinical_alzheimers", "species_relabund_filtered.tsv")
    a = gb.io.read_metaphlan(path)
    b = gb.io.read_table(path)
    assert a.shape == b.shape == (164, 115)
    assert a.uns["gutbrain"]["X_unit"] == b.uns["gutbrain"]["X_unit"] == "percent"
    np.testing.assert_allclose(
        gb._core.get_matrix(a), gb._core.get_matrix(b[a.obs_names, a.var_names])
    )
