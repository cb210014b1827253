"""Shorthand for writing corpus labels by hand (used by corpus_requests.py / corpus_dialogues.py).

A label is the *expected* meaning of a message under the chat meaning rules (services/gateway/README.md):
every slot not given is expected empty / unset. ``build.py`` expands titles to MovieLens ids with the
independent raw-data reader and writes the JSONL files; nothing here parses a message.
"""

from __future__ import annotations

SLOTS = ("include_genres", "exclude_genres", "min_certification", "max_certification",
         "use_certification_estimates", "min_runtime_min", "max_runtime_min", "lenient_runtime",
         "min_year", "max_year", "language", "exclude_titles", "exclude_franchises")
_SHORT = {"inc": "include_genres", "exc": "exclude_genres", "floor": "min_certification",
          "cap": "max_certification", "est": "use_certification_estimates", "rmin": "min_runtime_min",
          "rmax": "max_runtime_min", "lenient": "lenient_runtime", "ymin": "min_year", "ymax": "max_year",
          "lang": "language", "xt": "exclude_titles", "xf": "exclude_franchises"}


def C(**short) -> dict:
    """Active hard constraints, e.g. ``C(cap="PG", exc=["Horror"], rmax=95)``."""
    out: dict = {}
    for key, value in short.items():
        out[_SHORT[key]] = value
    return out


def plus(state: dict, **short) -> dict:
    """A copy of ``state`` with these slots replaced (lists are given whole: write what is active)."""
    return {**state, **C(**short)}


def minus(state: dict, *slots: str) -> dict:
    return {k: v for k, v in state.items() if k not in {_SHORT.get(s, s) for s in slots}}


def R(cls: str, form: str, message: str, constraints: dict | None = None, *, seeds=(), act="recommend",
      picks=(), rel=(), src=None, note: str = "") -> dict:
    """One labelled single request (a fresh user's first message)."""
    return {"class": cls, "form": form, "message": message, "constraints": constraints or {},
            "seeds": list(seeds), "act": act, "pick_refs": list(picks), "relative": list(rel),
            "source": src, "note": note}


def T(message: str, constraints: dict | None = None, *, seeds=(), act="recommend", picks=(), rel=(),
      src=None, note: str = "") -> dict:
    """One turn of a dialogue; ``constraints`` are the ACTIVE ones after the turn."""
    return {"message": message, "constraints": constraints or {}, "seeds": list(seeds), "act": act,
            "pick_refs": list(picks), "relative": list(rel), "source": src, "note": note}


def D(did: str, classes: list[str], *turns: dict, src=None) -> dict:
    return {"id": did, "classes": classes, "turns": list(turns), "source": src}
