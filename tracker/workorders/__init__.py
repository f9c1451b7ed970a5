"""The 12345 handling unit: the city platform's work-order cycle as the unit sees it (issue 19).

派单 → 签收 → 办理 → 办结 with a public reply (kept apart from the internal 办理情况) → the platform's 回访 →
closed or 重办; 退单 (send-back) requests, 主办/协办 co-handling, 督办/催办, repeat complaints, and the
monthly assessment the city ranks its units by (tracker.reports.assessment).
"""
