"""How a supervisor restarts a child process that died (the embedded nats-server, a worker
process): waits that grow with each quick death. A child that ran at least `stable_after_s`
starts the sequence afresh; one that keeps dying sooner uses it up, and then the supervisor
gives up so the platform exits non-zero and systemd, Docker or a person notices."""

from __future__ import annotations

from dataclasses import dataclass

RESTART_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
STABLE_AFTER_S = 30.0


@dataclass
class RestartBudget:
    backoff: tuple[float, ...] = RESTART_BACKOFF_S
    stable_after_s: float = STABLE_AFTER_S
    failures: int = 0

    def exited(self, ran_for_s: float) -> None:
        """The child died after running `ran_for_s`: a long run forgives earlier deaths."""
        if ran_for_s >= self.stable_after_s:
            self.failures = 0

    def next_wait(self) -> float | None:
        """Seconds to wait before the next start, or None once the budget is spent."""
        if self.failures >= len(self.backoff):
            return None
        wait = self.backoff[self.failures]
        self.failures += 1
        return wait
