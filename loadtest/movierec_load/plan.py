"""The load plan: which scenarios, at which concurrency levels and rates, for how long — and its bound.

A plan is checked before anything is sent: every run against the hard ceilings of
:mod:`movierec_load.safety`, and the worst-case wall time of the whole plan (every run lasting its
duration plus its drain grace) against ``max_total_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from movierec_load.grpc_scenarios import BY_NAME, SCENARIOS
from movierec_load.safety import MAX_TOTAL_S, PlanLimitError, check_run_limits

GATEWAY_SCENARIO = "gateway.journey"
ALL_SCENARIOS = (*(s.name for s in SCENARIOS), GATEWAY_SCENARIO)
# REST objectives (p99, ms). Sign-up hashes a password with argon2id on purpose (it is slow by design).
REST_SLO_P99_MS = {"signup": 1000.0, "onboard": 300.0, "recommendations": 150.0, "review": 50.0, "chat": 300.0}
# docs/architecture.md §6: a warm recommendation REST call without the LLM, p95.
RECOMMENDATIONS_P95_TARGET_MS = 50.0
MAX_ERROR_RATE = 0.001


@dataclass
class Plan:
    scenarios: tuple[str, ...] = ALL_SCENARIOS
    duration_s: float = 10.0
    warmup_s: float = 1.0
    concurrency: tuple[int, ...] = (1, 8, 32)
    rest_concurrency: tuple[int, ...] = (1, 4, 16)
    rates: dict[str, float] = field(default_factory=dict)  # scenario → open-loop rps (default: the scenario's)
    rpc_timeout_s: float = 2.0
    http_timeout_s: float = 10.0
    max_requests_per_run: int = 200_000
    max_in_flight: int = 256
    max_total_s: float = 600.0

    @property
    def grpc_scenarios(self) -> list[str]:
        return [name for name in self.scenarios if name != GATEWAY_SCENARIO]

    @property
    def gateway(self) -> bool:
        return GATEWAY_SCENARIO in self.scenarios

    def rate(self, scenario: str) -> float:
        return float(self.rates.get(scenario, BY_NAME[scenario].open_rate_rps))

    def grace_s(self, rest: bool = False) -> float:
        """How long past its duration a run may drain before it is stopped hard."""
        return (self.http_timeout_s if rest else self.rpc_timeout_s) + 1.0

    def worst_case_s(self) -> float:
        per_grpc = len(self.concurrency) * (self.duration_s + self.grace_s()) + self.duration_s + self.grace_s()
        grpc_total = len(self.grpc_scenarios) * (self.warmup_s + per_grpc)
        rest_total = (self.warmup_s + len(self.rest_concurrency) * (self.duration_s + self.grace_s(rest=True))
                      if self.gateway else 0.0)
        return grpc_total + rest_total

    def validate(self) -> None:
        unknown = sorted(set(self.scenarios) - set(ALL_SCENARIOS))
        if unknown:
            raise PlanLimitError(f"unknown scenario(s) {unknown}; choose from {list(ALL_SCENARIOS)}")
        unknown_rates = sorted(set(self.rates) - set(BY_NAME))
        if unknown_rates:
            raise PlanLimitError(f"--rate names unknown gRPC scenario(s) {unknown_rates}")
        if not self.scenarios:
            raise PlanLimitError("no scenario selected")
        for level in (*self.concurrency, *(self.rest_concurrency if self.gateway else ())):
            check_run_limits(duration_s=self.duration_s, concurrency=level, max_requests=self.max_requests_per_run)
        for name in self.grpc_scenarios:
            check_run_limits(duration_s=self.duration_s, rate_rps=self.rate(name),
                             max_requests=self.max_requests_per_run)
        if not 0 <= self.warmup_s <= 30:
            raise PlanLimitError(f"warm-up must be in [0, 30] s, got {self.warmup_s}")
        if not 1 <= self.max_in_flight <= 1024:
            raise PlanLimitError(f"max in-flight requests must be in [1, 1024], got {self.max_in_flight}")
        if not 0 < self.max_total_s <= MAX_TOTAL_S:
            raise PlanLimitError(f"max total time must be in (0, {MAX_TOTAL_S:.0f}] s, got {self.max_total_s}")
        worst = self.worst_case_s()
        if worst > self.max_total_s:
            raise PlanLimitError(f"the plan could take {worst:.0f} s, more than --max-total-s {self.max_total_s:.0f}: "
                                 "shorten --duration, drop levels or scenarios, or raise --max-total-s")
