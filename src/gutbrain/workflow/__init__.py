"""gutbrain.workflow: the cohort analysis of ``gutbrain run``, ``gutbrain demo`` and the web app.

Read :mod:`gutbrain.workflow._pipeline` top to bottom to see what a run does.

``run``         read → choose samples → steps → report → outputs (one call)
``load``        read a table and attach taxonomy and metadata (sample ids matched)
``RunConfig``   everything the user chose, checked once (``create``, then ``resolve``)
``GroupPlan``   the one rule for groups: missing values, levels, reference, colours
``STEPS``       the ordered analysis steps (``Step(key, fn, title, libraries)``)
"""

from __future__ import annotations

from ._config import RunConfig
from ._groups import GroupPlan
from ._inputs import load
from ._pipeline import STEPS, Step, run

__all__ = ["STEPS", "GroupPlan", "RunConfig", "Step", "load", "run"]
