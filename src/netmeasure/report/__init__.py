"""The compliance report: renders an evaluate result as PDF and HTML, in English or Vietnamese."""

from netmeasure.report.render import ReportError, ReportOutput, render

__all__ = ["ReportError", "ReportOutput", "render"]
