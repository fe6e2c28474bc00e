"""Feed every file of a hostile corpus to gutbrain in *this* process and report as JSON lines.

Usage: ``python tests/hostile/run_corpus.py CORPUS_DIR``.  Before each file a ``start``
line is flushed, so if the process dies (a segfault, the kernel's OOM killer) the caller
knows which file killed it.  For each file the reader named in the manifest is called, then
``gutbrain inspect FILE`` through the CLI; the line records the outcome (error class and
message, or what escaped), the seconds taken and the peak resident memory so far.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(corpus: Path) -> None:
    from typer.testing import CliRunner

    import gutbrain as gb
    from gutbrain import GutbrainError
    from gutbrain.cli import app

    runner = CliRunner()
    cases = json.loads((corpus / "manifest.json").read_text())
    print(json.dumps({"baseline_peak_mib": _peak_mib()}), flush=True)
    for c in cases:
        path = corpus / c["name"]
        print(json.dumps({"start": c["name"]}), flush=True)
        out: dict = {"name": c["name"]}
        t0 = time.perf_counter()
        try:
            getattr(gb.io, c["reader"])(path)
            out["outcome"] = "read"
        except GutbrainError as exc:
            out["outcome"] = "error"
            out["classes"] = [k.__name__ for k in type(exc).__mro__]
            out["message"] = str(exc)
        except BaseException as exc:
            out["outcome"] = "unclean"
            out["classes"] = [type(exc).__name__]
            out["message"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            out["traceback"] = traceback.format_exc()[-1500:]
        out["seconds"] = time.perf_counter() - t0
        out["peak_mib"] = _peak_mib()
        t0 = time.perf_counter()
        r = runner.invoke(app, ["inspect", str(path)])
        out["cli_seconds"] = time.perf_counter() - t0
        out["cli_exit"] = r.exit_code
        out["cli_stderr"] = r.stderr
        out["cli_stdout"] = r.stdout
        out["peak_mib_after_cli"] = _peak_mib()
        print(json.dumps(out), flush=True)
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
