"""The application's own view of a migration: its Prometheus endpoint, scraped and summarized.

A database's counters say what the database saw; the application's metrics say what its users
saw. Given the URL of the application's `/metrics` (the Prometheus text format), each scrape is
parsed with `prometheus_client`'s parser and reduced to three readings, from the change since
the previous scrape:

* requests per second: the counters whose name says requests (`http_requests_total`, ...);
* error rate: the share of those requests with a 5xx `code`/`status`/`status_code` label (or
  an `outcome`/`result` of error/failure);
* latency p50/p99 (ms): from the first histogram in seconds (`*_seconds`), by linear
  interpolation inside the bucket, as Prometheus's `histogram_quantile` does.

Only http(s) URLs; an endpoint that does not answer, or answers with something that is not the
Prometheus text format, is a clear error naming the URL and what to check.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from datamigration.errors import DataMigrationError, UserInputError

_ERROR_WORDS = {"error", "failure", "failed", "server_error"}
_CODE_LABELS = ("code", "status", "status_code")


class PrometheusError(UserInputError):
    """The application's metrics endpoint cannot be read or parsed."""


def _is_error(labels: dict[str, str]) -> bool:
    if any(str(labels.get(k, "")).startswith("5") for k in _CODE_LABELS):
        return True
    return any(str(labels.get(k, "")).lower() in _ERROR_WORDS for k in ("outcome", "result"))


def parse(text: str, url: str = "the endpoint") -> dict[str, Any]:
    """Totals from one scrape: requests, errors, and the histogram's buckets (le -> count)."""
    from prometheus_client.parser import text_string_to_metric_families

    hint = (f"Check that {url} is the application's Prometheus endpoint (usually /metrics) "
            "and answers in the Prometheus text format.")  # fmt: skip
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        raise PrometheusError(f"{url} did not answer in the Prometheus text format: {exc}"[:300],
                              hint=hint, url=url) from None  # fmt: skip
    if not families:
        raise PrometheusError(f"{url} answered with no metrics", hint=hint, url=url)
    out: dict[str, Any] = {"requests": None, "errors": 0.0, "buckets": None, "histogram": None}
    for fam in families:
        if fam.type == "counter" and "request" in fam.name:
            for s in fam.samples:
                if s.name.endswith("_total"):
                    out["requests"] = (out["requests"] or 0.0) + s.value
                    out["errors"] += s.value if _is_error(s.labels) else 0.0
        if fam.type == "histogram" and fam.name.endswith("_seconds") and out["buckets"] is None:
            buckets: dict[float, float] = {}
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    le = float(s.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + s.value
            out["buckets"], out["histogram"] = buckets, fam.name
    return out


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """The q-quantile (0-1) of cumulative buckets, interpolated inside the bucket (seconds)."""
    edges = sorted(buckets)
    if not edges or buckets[edges[-1]] <= 0:
        return None
    rank = q * buckets[edges[-1]]
    lower_edge, lower_count = 0.0, 0.0
    for edge in edges:
        count = buckets[edge]
        if count >= rank:
            if edge == float("inf"):
                return lower_edge  # beyond the highest finite bucket: its edge is all we know
            span = count - lower_count
            return lower_edge + (edge - lower_edge) * ((rank - lower_count) / span if span else 1)
        lower_edge, lower_count = edge, count
    return None


class PrometheusEndpoint:
    """Scrapes one endpoint; `sample()` gives the readings since the previous scrape."""

    def __init__(self, url: str, timeout_s: float = 3.0, clock: Any = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise PrometheusError(f"{url!r} is not an http(s) URL",
                                  hint="Give the application's metrics URL, e.g. "
                                  "http://127.0.0.1:9100/metrics.")  # fmt: skip
        import time

        self.url, self.timeout_s = url, timeout_s
        self.clock = clock or time.monotonic
        self._previous: tuple[float, dict[str, Any]] | None = None

    def scrape(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
                body = resp.read(8 * 2**20).decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(
                f"the application's metrics endpoint {self.url} cannot be read: {reason}",
                hint="Check that the application runs and serves its metrics at that URL "
                "(and that nothing blocks the port).",
                url=self.url,
            ) from None
        return parse(body, self.url)

    def sample(self) -> dict[str, Any]:
        try:
            now, totals = self.clock(), self.scrape()
        except DataMigrationError as exc:
            return {"error": exc.message}
        out: dict[str, Any] = {"histogram": totals["histogram"]}
        prev = self._previous
        buckets = totals["buckets"]
        if prev is not None:
            dt = max(now - prev[0], 1e-6)
            before = prev[1]
            if totals["requests"] is not None and before["requests"] is not None:
                reqs = max(0.0, totals["requests"] - before["requests"])
                errs = max(0.0, totals["errors"] - before["errors"])
                out["requests_per_s"] = round(reqs / dt, 2)
                out["error_rate"] = round(errs / reqs, 5) if reqs else 0.0
            if buckets is not None and before["buckets"] is not None:
                buckets = {k: v - before["buckets"].get(k, 0.0) for k, v in buckets.items()}
        if buckets is not None:
            for name, q in (("latency_p50_ms", 0.5), ("latency_p99_ms", 0.99)):
                found = quantile(buckets, q)
                out[name] = round(found * 1000, 3) if found is not None else None
        self._previous = (now, totals)
        return out
