"""The supervisors' restart rule: waits grow with quick deaths, a stable run forgives them."""

from __future__ import annotations

from oncallnova.restarts import RestartBudget


def test_quick_deaths_use_up_the_waits_then_give_up() -> None:
    budget = RestartBudget(backoff=(0.1, 0.5), stable_after_s=30)
    budget.exited(1.0)
    assert budget.next_wait() == 0.1
    budget.exited(1.0)
    assert budget.next_wait() == 0.5
    budget.exited(1.0)
    assert budget.next_wait() is None
    assert budget.failures == 2


def test_a_stable_run_starts_the_waits_afresh() -> None:
    budget = RestartBudget(backoff=(0.1, 0.5), stable_after_s=30)
    budget.exited(1.0)
    budget.next_wait()
    budget.exited(1.0)
    budget.next_wait()
    budget.exited(30.0)
    assert budget.next_wait() == 0.1
