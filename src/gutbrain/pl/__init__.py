"""gutbrain.pl."""

from __future__ import annotations

from ._composition import taxa_barplot
from ._diversity import alpha, pcoa
from ._indices import index_dashboard, module_heatmap

__all__: list[str] = ["alpha", "index_dashboard", "module_heatmap", "pcoa", "taxa_barplot"]
