"""The committed JSON Schemas are what `python -m schemas.export` writes, and real bodies fit them.

Producers in other languages code against `schemas/json/`; a model change that is not
re-exported would silently give them a stale contract.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas import export
from schemas.subjects import ALERT_FORMATS, ALERT_RECEIVED, CATALOGUE
from schemas.wire_v1 import WIRE_MODELS

REGENERATE = ".venv/bin/python -m schemas.export"
WIRE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire"
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"


def _exported(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob(f"*{export.SUFFIX}"))}


def test_committed_schemas_match_a_fresh_export(tmp_path: Path) -> None:
    export.write(tmp_path)
    fresh, committed = _exported(tmp_path), _exported(export.OUT_DIR)
    missing = sorted(fresh.keys() - committed.keys())
    extra = sorted(committed.keys() - fresh.keys())
    changed = sorted(n for n in fresh.keys() & committed.keys() if fresh[n] != committed[n])
    assert not (missing or extra or changed), (
        f"schemas/json is stale (missing {missing}, no longer exported {extra}, "
        f"changed {changed}); run: {REGENERATE}"
    )


def test_export_is_deterministic(tmp_path: Path) -> None:
    export.write(tmp_path / "a")
    export.write(tmp_path / "b")
    assert _exported(tmp_path / "a") == _exported(tmp_path / "b")


def test_every_alert_format_and_modelled_topic_is_exported() -> None:
    names = export.build().keys()
    for fmt in ALERT_FORMATS:
        assert f"alert.received.v1.{fmt}.schema.json" in names
    for expected in (
        "alert.fingerprinted.v1.schema.json",
        "incident.command.v1.schema.json",
        "incident.event.v1.schema.json",
        "envelope.headers.schema.json",
    ):
        assert expected in names


def test_readme_names_every_topic_still_without_a_schema() -> None:
    readme = (export.OUT_DIR / "README.md").read_text()
    pending = [t for t in CATALOGUE.values() if t.model is None and t is not ALERT_RECEIVED]
    assert pending, "every topic has a model: drop the 'Not exported yet' section"
    assert "## Not exported yet" in readme
    for topic in pending:
        assert f"({topic.name})" in readme, f"{topic.name} missing from schemas/json/README.md"


# --- sample bodies against the schemas (needs the `jsonschema` package) -------------------


def _format_of(fixture: Path) -> str:
    """The wire format is the file-name prefix (tests/fixtures/wire/README.md)."""
    return fixture.name.split("_", 1)[0]


def _validator(fmt: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    path = export.OUT_DIR / f"{ALERT_RECEIVED.subject(fmt)}{export.SUFFIX}"
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


FIXTURES = sorted(WIRE_FIXTURES.glob("*.json"))


def test_every_alert_format_has_a_sample_body() -> None:
    assert {_format_of(f) for f in FIXTURES} == set(ALERT_FORMATS)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_sample_body_fits_its_format_schema(fixture: Path) -> None:
    fmt = _format_of(fixture)
    body = json.loads(fixture.read_text())
    WIRE_MODELS[fmt].model_validate(body)  # the server accepts it, so the schema must too
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in _validator(fmt).iter_errors(body)
    ]
    assert not errors, f"{fixture.name} fails {fmt} schema: {errors}"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"routing_key": ROUTING_KEY, "event_action": "trigger"}, "trigger without payload"),
        ({"routing_key": ROUTING_KEY, "event_action": "resolve"}, "resolve without dedup_key"),
        ({"routing_key": "short", "event_action": "acknowledge", "dedup_key": "k"}, "short key"),
    ],
)
def test_pagerduty_schema_refuses_what_the_server_refuses(body: dict[str, Any], why: str) -> None:
    # These rules live in validators, not fields; the exporter has to state them itself.
    with pytest.raises(ValueError):
        WIRE_MODELS["pagerduty"].model_validate(body)
    assert list(_validator("pagerduty").iter_errors(body)), f"schema accepts a {why}"
