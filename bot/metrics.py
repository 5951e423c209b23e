"""Prometheus metrics of the webhook. Under gunicorn set PROMETHEUS_MULTIPROC_DIR so every worker is counted."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOK_LATENCY = Histogram(
    "xiaoyou_webhook_latency_seconds",
    "Time to answer a push, by outcome",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5),
)
DEDUPE_HITS = Counter("xiaoyou_webhook_dedupe_hits_total", "Pushes recognised as retries or duplicates", ["layer"])
HANDLER_ERRORS = Counter("xiaoyou_webhook_handler_errors_total", "Handlers that raised", ["route"])
REJECTED = Counter("xiaoyou_webhook_rejected_total", "Requests refused before routing", ["code"])
DEFERRED = Counter("xiaoyou_webhook_deferred_total", "Replies sent by customer-service message", ["reason"])
