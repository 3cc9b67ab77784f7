"""How `oncallnova up` spreads its workers over child processes (pure decisions)."""

from __future__ import annotations

import pytest

from app.worker_processes import (
    MAX_DEFAULT_PROCESSES,
    assign_workers,
    default_worker_processes,
    stats_document,
    stats_from_json,
    worker_process_count,
)
from app.workers import WORKERS
from oncallnova.bus.runtime import WorkerStats
from oncallnova.settings import Settings


@pytest.mark.parametrize(
    ("cpus", "wanted"), [(None, 1), (1, 1), (2, 2), (4, 4), (64, MAX_DEFAULT_PROCESSES)]
)
def test_default_is_one_process_per_cpu_capped(cpus: int | None, wanted: int) -> None:
    assert default_worker_processes(cpus) == wanted


@pytest.mark.parametrize(("setting", "wanted"), [("0", 1), ("1", 1), ("3", 3)])
def test_the_setting_wins_and_zero_means_one_process(
    monkeypatch: pytest.MonkeyPatch, setting: str, wanted: int
) -> None:
    monkeypatch.setenv("WORKER_PROCESSES", setting)
    assert worker_process_count(Settings(), cpus=8) == wanted


@pytest.mark.parametrize("processes", [2, 3, 4, 9, 20])
def test_every_worker_runs_once_and_no_process_is_idle(processes: int) -> None:
    groups = assign_workers(WORKERS, processes)
    assert sorted(n for g in groups for n in g) == sorted(WORKERS)
    assert len(groups) == min(processes, len(WORKERS))
    assert all(groups)


def test_the_busy_stages_are_kept_apart() -> None:
    first, second = assign_workers(WORKERS, 2)
    assert "lifecycle" in first and "lifecycle" not in second
    assert {"fingerprinter", "correlator"} <= set(second)
    # with more processes the heaviest stage gets one to itself, the next two one each
    groups = assign_workers(WORKERS, 4)
    assert ["lifecycle"] in groups
    where = {name: i for i, group in enumerate(groups) for name in group}
    assert len({where["lifecycle"], where["fingerprinter"], where["correlator"]}) == 3


def test_stats_survive_the_report_file() -> None:
    class Runner:
        stats = WorkerStats(handled=7, retried=2, running=True)

    Runner.stats.latency.observe(0.003)
    import json

    document = json.loads(json.dumps(stats_document({"lifecycle": Runner()})))
    back = stats_from_json(document["workers"]["lifecycle"])
    assert (back.handled, back.retried, back.running) == (7, 2, True)
    assert back.latency.cumulative() == Runner.stats.latency.cumulative()
