"""Reports of checked plans (PDF), built on the core; no Qt."""

from thighmap.report.pdf import write_plan_report

__all__ = ["write_plan_report"]
