"""Figures from the call records: the KPI of R-5.4 (``store.kpi``), defined in docs/kpi.md."""
