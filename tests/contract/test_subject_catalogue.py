"""Subjects live in one place (`schemas/subjects.py`) and `nats/` binds them consistently.

A subject string typed anywhere else drifts from the catalogue unnoticed; a stream that binds
another's subjects makes JetStream refuse to start; an event stream that also binds commands
would hand requests to every event consumer.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from oncallnova.bus import declarations
from oncallnova.bus.provision import consumer_config, stream_config
from schemas.incident_v1 import INCIDENT_EVENT_TYPES
from schemas.subjects import CATALOGUE, INCIDENT_COMMAND, INCIDENT_EVENT

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("oncallnova", "app", "workers", "edge")
CATALOGUE_FILE = REPO / "schemas" / "subjects.py"
NATS_DIR = REPO / "nats"

# `<domain>.<token>…` as a literal starts it; an f-string placeholder counts as a token.
SUBJECT_LIKE = re.compile(
    r"(?<![\w.\-/])(alert|incident|notification|webhook|dlq)\.(\{\}|\*|>|[a-z][a-z0-9_]*)"
)


@dataclass(frozen=True)
class SubjectLiteral:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r}"


def _docstring_nodes(tree: ast.AST) -> set[int]:
    # Docstrings explain subjects in prose (`alert.received.v1.<format>`); that is not use.
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        # f"incident.{event}.v1" reads as "incident.{}.v1".
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def subject_literals(source: str, path: str) -> list[SubjectLiteral]:
    """String and f-string literals in one module's source that look like a subject."""
    tree = ast.parse(source, filename=path)
    skip = _docstring_nodes(tree)
    # Parts of an f-string are checked as the whole f-string, not one by one.
    skip |= {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        text = None if id(node) in skip else _literal_text(node)
        if text is not None and SUBJECT_LIKE.search(text):
            found.append(SubjectLiteral(path, node.lineno, text))
    return sorted(found, key=lambda lit: lit.line)


def _scanned_files() -> list[Path]:
    files = [p for d in SCANNED for p in sorted((REPO / d).rglob("*.py"))]
    return [p for p in files if "_pb2" not in p.name and p != CATALOGUE_FILE]


def _all_subject_literals() -> list[SubjectLiteral]:
    return [
        lit
        for path in _scanned_files()
        for lit in subject_literals(path.read_text(), path.relative_to(REPO).as_posix())
    ]


def test_scanner_finds_subject_literals() -> None:
    # The guard below is only worth something if the scanner sees what it must.
    source = (
        '"""Consumes `incident.command.v1.<id>`."""\n'
        'A = "incident.command.v1"\n'
        'B = f"dlq.{name}"\n'
        'C = f"{alert.summary}"\n'
        'D = "see alert.received.v1.generic"\n'
        'E = "Onc-Dlq-Subject"\n'
        'F = "alert"\n'
    )
    texts = [lit.text for lit in subject_literals(source, "sample.py")]
    assert texts == ["incident.command.v1", "dlq.{}", "see alert.received.v1.generic"]


def test_scanner_covers_the_worker_and_edge_code() -> None:
    scanned = {p.relative_to(REPO).as_posix() for p in _scanned_files()}
    assert {"workers/correlator.py", "edge/ingestion/service.py", "app/cli.py"} <= scanned


def test_subject_strings_appear_only_in_the_catalogue() -> None:
    found = [str(lit) for lit in _all_subject_literals()]
    assert not found, "subject strings outside schemas/subjects.py:\n" + "\n".join(found)


# --- nats/ declarations against the catalogue ----------------------------------------------


def _tokens_match(pattern: list[str], subject: list[str]) -> bool:
    """Whether every subject matched by `subject` is matched by `pattern` (NATS wildcards)."""
    for i, token in enumerate(pattern):
        if token == ">":
            return len(subject) > i
        if i >= len(subject) or subject[i] == ">":
            return False
        if token != "*" and (subject[i] == "*" or token != subject[i]):
            return False
    return len(pattern) == len(subject)


def is_subset(subject: str, pattern: str) -> bool:
    return _tokens_match(pattern.split("."), subject.split("."))


def overlap(a: str, b: str) -> bool:
    """Whether some concrete subject matches both filters."""
    ta, tb = a.split("."), b.split(".")
    for i in range(max(len(ta), len(tb))):
        if i < len(ta) and ta[i] == ">":
            return len(tb) > i
        if i < len(tb) and tb[i] == ">":
            return len(ta) > i
        if i >= len(ta) or i >= len(tb):
            return False
        if "*" not in (ta[i], tb[i]) and ta[i] != tb[i]:
            return False
    return True


def test_subject_matching_helpers() -> None:
    assert is_subset("incident.triggered.v1.*", "incident.*.v1.*")
    assert not is_subset("incident.*.v1.*", "incident.triggered.v1.*")
    assert is_subset("dlq.x", "dlq.>") and not is_subset("dlq", "dlq.>")
    assert overlap("incident.*.v1.*", "incident.command.v1.*")
    assert not overlap("incident.triggered.v1.*", "incident.command.v1.*")
    assert overlap("alert.>", "alert.received.v1.x") and not overlap("alert.*", "alert.a.b")


class _NamespaceOnly:
    """What provision's config builders read from a Bus, without a connection."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.replicas = 1

    def stream(self, name: str) -> str:
        return declarations.stream_name(self.ns, name)


NAMESPACES = ["", "t0abc"]


def _raw(name: str) -> dict:
    return json.loads((NATS_DIR / name).read_text())


def test_nats_dir_holds_no_python() -> None:
    # A nats/__init__.py would shadow the nats-py package for everything run from the repo.
    assert not sorted(NATS_DIR.rglob("*.py")), "nats/ is data only"


def test_every_declared_topic_is_in_the_catalogue() -> None:
    named = [t for s in _raw("streams.json")["streams"] for t in s["topics"]]
    named += [c["topic"] for c in _raw("consumers.json")["consumers"]]
    assert named
    unknown = sorted(set(named) - CATALOGUE.keys())
    assert not unknown, f"topics in nats/*.json missing from schemas/subjects.py: {unknown}"


@pytest.mark.parametrize("ns", NAMESPACES)
def test_every_consumer_reads_subjects_its_stream_binds(ns: str) -> None:
    bus = _NamespaceOnly(ns)
    streams = {s.name: stream_config(bus, s) for s in declarations.streams()}
    for decl in declarations.consumers():
        assert decl.stream in streams, f"{decl.durable}: no stream {decl.stream}"
        bound = streams[decl.stream].subjects or []
        wanted = decl.topic.stream_subjects(ns)
        for subject in wanted:
            assert any(is_subset(subject, b) for b in bound), (
                f"consumer {decl.durable} reads {subject}, which stream {decl.stream} "
                f"does not bind ({bound})"
            )
        # What provision actually filters on must not reach past its stream either; a
        # partitioned topic is stored under its transform's destination (`<subject>.<n>`).
        transform = streams[decl.stream].subject_transform
        for durable in decl.durables():
            filter_subject = consumer_config(bus, decl, durable).filter_subject
            assert filter_subject
            if decl.partitions:
                assert transform is not None, f"{decl.stream}: partitioned without a transform"
                stored = re.sub(r"\{\{[^}]*\}\}", "*", transform.dest or "")
                assert is_subset(filter_subject, stored), (filter_subject, stored)
            else:
                assert any(overlap(filter_subject, b) for b in bound)


@pytest.mark.parametrize("ns", NAMESPACES)
def test_partitioned_topics_store_the_partition_as_last_token(ns: str) -> None:
    for topic in (t for t in CATALOGUE.values() if t.partitions):
        source, destination = topic.partition_transform(ns)
        assert source == topic.wildcard(ns)
        assert destination.endswith(f".{{{{partition({topic.partitions},1)}}}}"), destination
        stored = f"{topic.subject('key1', ns=ns)}.{topic.partitions - 1}"
        assert is_subset(stored, topic.partition_filter(topic.partitions - 1, ns))
        assert is_subset(stored, topic.stored_wildcard(ns))
        assert topic.published(stored) == topic.subject("key1", ns=ns)
        with pytest.raises(ValueError):
            topic.partition_filter(topic.partitions, ns)


def test_every_partitioned_consumer_has_a_pin_timeout_past_redelivery() -> None:
    from oncallnova.bus.pull import GROUP_EXPIRES_S, KEEPALIVE_S

    for decl in (d for d in declarations.consumers() if d.partitions):
        # What a vanished copy held is redelivered before another copy gets its partition.
        assert decl.pin_timeout_s > decl.ack_wait_s + GROUP_EXPIRES_S, decl.durable
        assert decl.pin_timeout_s > decl.ack_wait_s + KEEPALIVE_S, decl.durable
        assert len(decl.durables()) == decl.partitions


@pytest.mark.parametrize("ns", NAMESPACES)
def test_no_two_streams_bind_overlapping_subjects(ns: str) -> None:
    bus = _NamespaceOnly(ns)
    bound = [
        (s.name, subject)
        for s in declarations.streams()
        for subject in stream_config(bus, s).subjects or []
    ]
    clashes = [
        f"{sa}:{a} and {sb}:{b}"
        for (sa, a), (sb, b) in itertools.combinations(bound, 2)
        if overlap(a, b)
    ]
    assert not clashes, f"overlapping stream subjects: {clashes}"


def test_incident_events_stream_binds_every_event_and_no_command() -> None:
    (events,) = [s for s in declarations.streams() if s.name == "INCIDENT_EVENTS"]
    bound = stream_config(_NamespaceOnly(""), events).subjects or []
    for event in INCIDENT_EVENT_TYPES:
        subject = INCIDENT_EVENT.subject("inc1", event=event)
        assert any(is_subset(subject, b) for b in bound), f"{subject} not bound by INCIDENT_EVENTS"
    # Event consumers read the whole stream; a command there would look like a fact to them.
    command = INCIDENT_COMMAND.wildcard()
    assert not any(overlap(command, b) for b in bound), f"INCIDENT_EVENTS binds {command}"
