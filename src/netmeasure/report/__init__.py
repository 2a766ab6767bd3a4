"""The compliance report: renders an evaluate result as PDF and HTML, in English or Vietnamese."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netmeasure.report.render import ReportError, ReportOutput, render

__all__ = ["ReportError", "ReportOutput", "render"]


def __getattr__(name: str) -> Any:
    # On first use: the texts (report/i18n.py, shared with the dashboard) are read without
    # the renderer's dependencies (matplotlib, WeasyPrint), which the collector lacks.
    if name in __all__:
        import importlib

        module = importlib.import_module("netmeasure.report.render")
        # as the eager import did: the package's ``render`` is the function, not the module
        globals().update({n: getattr(module, n) for n in __all__})
        return globals()[name]
    raise AttributeError(f"module 'netmeasure.report' has no attribute {name!r}")
