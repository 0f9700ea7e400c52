"""What `GET /metrics` reports, kept by the hot paths themselves: delivery outcomes and send latency per
channel (the dispatcher's lanes), replies per channel (the intake), and the gauges a scrape fills in.

Each running system has a `Metrics` with a `CollectorRegistry` of its own, never prometheus-client's
global default: tests run many systems in one process, and nothing else may add series to ours.
The hot paths only call children made once (`labels()` costs 2-3 µs, `inc()` under 1 µs).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# No `*_created` series (when each counter and histogram child was made): they doubled every scrape and
# dashboards took them for counts. prometheus-client's own switch: process-wide, read at each scrape.
disable_created_metrics()

# A provider answers in tens of milliseconds on a good day; a timeout is 10 s.
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = ("sent", "retry", "failed", "released", "skipped")


class LaneMeter:
    """One lane's children: an outcome counter per kind, a latency histogram per result."""

    __slots__ = ("_outcomes", "error_seconds", "sent_seconds")

    def __init__(self, metrics: Metrics, channel: str) -> None:
        self._outcomes = {kind: metrics.deliveries.labels(channel, kind) for kind in OUTCOMES}
        self.sent_seconds = metrics.send_seconds.labels(channel, "sent")
        self.error_seconds = metrics.send_seconds.labels(channel, "error")

    def outcome(self, kind: str) -> None:
        self._outcomes[kind].inc()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter("safetynet_deliveries", "Delivery outcomes by channel: sent, retry (back to the "
                                  "outbox), failed (next channel), released, skipped", ("channel", "outcome"),
                                  registry=r)
        self.send_seconds = Histogram("safetynet_send_duration_seconds", "Provider calls by channel and result, "
                                      "from handing the message over to its answer", ("channel", "result"),
                                      buckets=SEND_BUCKETS, registry=r)
        self.replies = Counter("safetynet_replies", "Replies recorded (duplicates not counted) by channel and "
                               "status: safe, need_help, read, note", ("channel", "status"), registry=r)
        self.outbox_due = Gauge("safetynet_outbox_due_deliveries", "Deliveries of running campaigns due now "
                                "and not yet claimed, by channel (read at scrape time)", ("channel",), registry=r)
        self.notices_due = Gauge("safetynet_outbox_due_notices", "Notices of cancelled campaigns to the "
                                 "households they reached, due now and not yet claimed, by channel (read at "
                                 "scrape time)", ("channel",), registry=r)
        self.lane_held = Gauge("safetynet_lane_held_deliveries", "Deliveries this process's dispatcher holds "
                               "per lane, queued in memory or at the provider", ("channel",), registry=r)
        self.sse_connections = Gauge("safetynet_sse_connections", "Open live-count streams (dashboards)",
                                     registry=r)
        self.store_healthy = Gauge("safetynet_store_healthy", "1 while the store takes writes, 0 after a "
                                   "write failed (disk full, read-only)", registry=r)
        self.dispatchers_alive = Gauge("safetynet_dispatchers_alive", "Dispatchers with a fresh heartbeat on "
                                       "this database", registry=r)
        self._replies: dict[tuple[str, str], Counter] = {}

    def lane(self, channel: str) -> LaneMeter:
        return LaneMeter(self, channel)

    def reply(self, channel: str, status: str) -> None:
        child = self._replies.get((channel, status))
        if child is None:
            child = self._replies[(channel, status)] = self.replies.labels(channel, status)
        child.inc()
