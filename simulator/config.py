"""Fault and replay settings of the loopback services.

Kept apart from simulator.app so that the `admissions` command can build its
options without importing the web framework at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

GROUPS = ("gov", "sms", "feed")


@dataclass
class Faults:
    """Faults of one service group. Outage times are seconds on the monotonic clock."""

    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of requests that get HTTP 500
    outage_start: float | None = None
    outage_end: float | None = None
    rate_limit: float = 0.0  # requests per second; 0 is unlimited

    def validate(self, group: str) -> None:
        if self.latency_ms < 0:
            raise ValueError(
                f"{group} latency must not be negative, got {self.latency_ms}"
            )
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"{group} error rate must be 0-1, got {self.error_rate}")
        if self.rate_limit < 0:
            raise ValueError(
                f"{group} rate limit must not be negative, got {self.rate_limit}"
            )


@dataclass
class ServiceConfig:
    """Settings of one service run; outages given here count from server start."""

    gov: Faults = field(default_factory=Faults)
    sms: Faults = field(default_factory=Faults)
    feed: Faults = field(default_factory=Faults)
    burst_rate: float = 0.0  # feed items made visible per second; 0 shows all at once
    burst_initial: int = 0  # feed items visible at start when burst_rate is set
    # Replay at the submission times, compressed: 3600 shows an hour's submissions per
    # second of server time. Set this or burst_rate, not both.
    burst_speedup: float = 0.0
    sms_delivery_delay: float = 0.0  # seconds from acceptance to delivery
    sms_failure_rate: float = 0.0  # share of accepted messages that end as failed
    as_of: date | None = (
        None  # request day for permit validity; default: registry as_of
    )
    seed: int = 0  # seeds the random faults and SMS failures
