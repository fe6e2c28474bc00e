"""Plain SciPy right-hand sides of every shipped model (the reference for the SBML engine).

These are written independently of the Antimony text, from the same published equations, so
that tests can check the SBML/libRoadRunner path against them (agreement rtol 1e-4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["RefModel", "reference_model"]


def _up(v: np.ndarray | float, x: float, h: float) -> np.ndarray | float:
    vh = np.power(v, h)
    return vh / (vh + x**h)


def _down(v: np.ndarray | float, x: float, h: float) -> np.ndarray | float:
    xh = x**h
    return xh / (np.power(v, h) + xh)


@dataclass(frozen=True)
class RefModel:
    """Reference model: state names, initial state, right-hand side, observables."""

    states: tuple[str, ...]
    initial: Callable[[Mapping[str, float]], np.ndarray]
    rhs: Callable[[float, np.ndarray, Mapping[str, float]], np.ndarray]
    observe: Callable[[np.ndarray, Mapping[str, float]], dict[str, np.ndarray]]


# --------------------------------------------------------------------------- Dobreva core
_CORE = ("PE", "M_R", "M_A", "TNF", "IL6", "IL8", "IL10", "PPT")


def _core_init(p: Mapping[str, float]) -> list[float]:
    return [0.0, p["M_R0"], 0.0, p["s_TNF"], p["s_6"], p["s_8"], p["s_10"], p["PPT_max"]]


def _core_rhs(y: np.ndarray, p: Mapping[str, float], PE_in: float, act_mod: float,
              tnf_mod: float, il10_mod: float) -> list[float]:
    PE, MR, MA, TNF, IL6, IL8, IL10, PPT = y
    act = (
        _up(PE, p["x_MPE"], p["h_MPE"])
        * (p["s_M"] + p["k_MTNF"] * _up(TNF, p["x_MTNF"], p["h_MTNF"]) * p["x_MTNF"] ** p["h_MTNF"])
        * _down(IL10, p["x_M10"], p["h_M10"]) * MR * act_mod
    )
    return [
        PE_in - p["k_PE"] * PE,
        p["k_MR"] * MR * (1 - MR / p["M_max"]) - act,
        act - p["k_MA"] * MA,
        p["k_TNFM"] * tnf_mod * MA * _down(IL10, p["x_TNF10"], p["h_TNF10"])
        * _down(IL6, p["x_TNF6"], p["h_TNF6"]) - p["k_TNF"] * (TNF - p["s_TNF"] * tnf_mod),
        MA * (p["k_6M"] + p["k_6TNF"] * _up(TNF, p["x_6TNF"], p["h_6TNF"]))
        * _down(IL6, p["x_66"], p["h_66"]) * _down(IL10, p["x_610"], p["h_610"])
        - p["k_6"] * (IL6 - p["s_6"]),
        MA * (p["k_8M"] + p["k_8TNF"] * _up(TNF, p["x_8TNF"], p["h_8TNF"]))
        * _down(IL10, p["x_810"], p["h_810"]) - p["k_8"] * (IL8 - p["s_8"]),
        MA * (p["k_10M"] * il10_mod + p["k_106"] * _up(IL6, p["x_106"], p["h_106"]))
        - p["k_10"] * (IL10 - p["s_10"] * il10_mod),
        -p["k_PEPP"] * PE * PPT + p["k_PP"] * (p["PPT_max"] - PPT),
    ]


def _dobreva() -> RefModel:
    def initial(p: Mapping[str, float]) -> np.ndarray:
        return np.array(_core_init(p), dtype=float)

    def rhs(t: float, y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        return np.array(_core_rhs(y, p, 0.0, 1.0, 1.0, 1.0))

    def observe(Y: np.ndarray, p: Mapping[str, float]) -> dict[str, np.ndarray]:
        d = {s: Y[:, i] for i, s in enumerate(_CORE)}
        d["PPT_pct"] = 100 * d["PPT"] / p["PPT_max"]
        return d

    return RefModel(_CORE, initial, rhs, observe)


# --------------------------------------------------------------------------- fermentation
_FERM = ("NSP", "RS", "Prot", "Bac", "BP", "Ac", "Pro", "But")


def _ferm_rhs(y: np.ndarray, p: Mapping[str, float]) -> list[float]:
    NSP, RS, Prot, Bac, BP, _Ac, _Pro, _But = y
    Ac, Pro, But = y[5], y[6], y[7]
    D = p["D"] / 24
    K = p["K_s"]
    g_bn = p["mu_bac_nsp"] / 24 * NSP / (K + NSP)
    g_bp = p["mu_bac_prot"] / 24 * Prot / (K + Prot)
    g_pn = p["mu_bp_nsp"] / 24 * NSP / (K + NSP)
    g_pr = p["mu_bp_rs"] / 24 * RS / (K + RS)
    up_bac = (g_bn + g_bp) * Bac / p["Y_bac"]
    up_bp = (g_pn + g_pr) * BP / p["Y_bp"]
    return [
        p["fibre_mult"] * p["in_NSP"] / 24 - D * NSP - g_bn * Bac / p["Y_bac"] - g_pn * BP / p["Y_bp"],
        p["fibre_mult"] * p["in_RS"] / 24 - D * RS - g_pr * BP / p["Y_bp"],
        p["in_Prot"] / 24 - D * Prot - g_bp * Bac / p["Y_bac"],
        (g_bn + g_bp - D) * Bac,
        (g_pn + g_pr - D) * BP,
        p["y_ac_bac"] * up_bac - D * Ac,
        p["y_pro_bac"] * up_bac - D * Pro,
        p["but_capacity"] * p["y_but_bp"] * up_bp - D * But,
    ]


def _ferm_init(p: Mapping[str, float]) -> list[float]:
    return [p[f"{s}0"] for s in _FERM]


def _ferm_obs(Y: np.ndarray) -> dict[str, np.ndarray]:
    d = {s: Y[:, i] for i, s in enumerate(_FERM)}
    d["but_mM"] = d["But"] / 88.11 * 1000
    return d


def _fermentation() -> RefModel:
    def initial(p: Mapping[str, float]) -> np.ndarray:
        return np.array(_ferm_init(p), dtype=float)

    def rhs(t: float, y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        return np.array(_ferm_rhs(y, p))

    return RefModel(_FERM, initial, rhs, lambda Y, p: _ferm_obs(Y))


# --------------------------------------------------------------------------- full chain
_LINKS = ("Perm", "Tol", "MG")
_CHAIN = _FERM + _LINKS + _CORE


def _gut_brain() -> RefModel:
    nf, nl = len(_FERM), len(_LINKS)

    def initial(p: Mapping[str, float]) -> np.ndarray:
        return np.array([*_ferm_init(p), 1.0, 0.0, 0.0, *_core_init(p)], dtype=float)

    def rhs(t: float, y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        yf, yl, yc = y[:nf], y[nf:nf + nl], y[nf + nl:]
        Perm, Tol, MG = yl
        But = yf[7]
        _PE, _MR, MA, TNF, IL6, _IL8, IL10, _PPT = yc
        P_target = (p["but_ref"] / (But + 1e-9)) ** p["gamma_bar"]
        PE_in = p["k_PE"] * p["PE_b"] * p["E_lumen"] * Perm
        act_mod = 1 - p["tol_max"] * Tol
        tnf_mod = 1 + p["probiotic"] * p["prob_tnf"]
        il10_mod = 1 + p["probiotic"] * p["prob_il10"]
        dl = [
            (P_target - Perm) / p["tau_bar"],
            p["k_tol_on"] * MA / (MA + p["x_tol"]) * (1 - Tol) - p["k_tol_off"] * Tol,
            p["k_mg_on"] * (_up(TNF, p["x_mg_tnf"], 2) + _up(IL6, p["x_mg_6"], 2))
            * _down(IL10, p["x_mg_10"], 1) * (1 - MG) - p["k_mg_off"] * MG,
        ]
        return np.array(_ferm_rhs(yf, p) + dl + _core_rhs(yc, p, PE_in, act_mod, tnf_mod, il10_mod))

    def observe(Y: np.ndarray, p: Mapping[str, float]) -> dict[str, np.ndarray]:
        d = _ferm_obs(Y[:, :nf])
        d.update({s: Y[:, nf + i] for i, s in enumerate(_LINKS)})
        d.update({s: Y[:, nf + nl + i] for i, s in enumerate(_CORE)})
        d["LPS_fold"] = p["E_lumen"] * d["Perm"]
        d["sens"] = 1 + p["g_sens"] * d["MG"]
        d["PPT_pct"] = 100 * d["PPT"] / (p["PPT_max"] * d["sens"])
        return d

    return RefModel(_CHAIN, initial, rhs, observe)


# --------------------------------------------------------------------------- gLV
def _glv(name: str) -> RefModel:
    from ._model import load_model

    table = load_model(name).parameters
    taxa = tuple(n[3:] for n in table.index if n.startswith("x0_"))
    n = len(taxa)

    def matrices(p: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = np.array([p[f"mu_{t}"] for t in taxa])
        eps = np.array([p[f"eps_{t}"] for t in taxa])
        M = np.array([[p.get(f"M_{a}_{b}", 0.0) for b in taxa] for a in taxa])
        return mu, eps, M

    cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def rhs(t: float, y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        key = id(p)
        if key not in cache:
            cache.clear()
            cache[key] = matrices(p)
        mu, eps, M = cache[key]
        return y * (mu + M @ y + eps * p["u"])

    def initial(p: Mapping[str, float]) -> np.ndarray:
        cache.clear()
        return np.array([p[f"x0_{t}"] for t in taxa], dtype=float)

    def observe(Y: np.ndarray, p: Mapping[str, float]) -> dict[str, np.ndarray]:
        d = {f"x_{t}": Y[:, i] for i, t in enumerate(taxa)}
        d["lachno"] = sum(d[f"x_{t}"] for t in taxa if t.startswith("Lachno"))
        d["total"] = Y.sum(axis=1)
        return d

    assert n == len(taxa)
    return RefModel(tuple(f"x_{t}" for t in taxa), initial, rhs, observe)


@lru_cache(maxsize=8)
def reference_model(name: str) -> RefModel:
    """The SciPy reference of a shipped model."""
    builders: dict[str, Callable[[], RefModel]] = {
        "dobreva2021": _dobreva,
        "fermentation": _fermentation,
        "gut_brain": _gut_brain,
        "stein2013_glv": lambda: _glv("stein2013_glv"),
        "stein2013_glv_probiotic": lambda: _glv("stein2013_glv_probiotic"),
    }
    from .._errors import DataValueError

    if name not in builders:
        raise DataValueError(f"no SciPy reference for model {name!r}")
    return builders[name]()
