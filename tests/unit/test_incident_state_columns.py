"""The incident rules' state matches the incidents table, column for column."""

from dataclasses import fields

from oncallnova.db.repositories.incidents import INCIDENTS, MUTABLE_COLUMNS
from oncallnova.incidents.rules import IncidentState


def test_state_fields_are_the_table_columns() -> None:
    assert [f.name for f in fields(IncidentState)] == [c.name for c in INCIDENTS.columns]


def test_mutable_columns_exist_and_exclude_identity() -> None:
    columns = {c.name for c in INCIDENTS.columns}
    assert set(MUTABLE_COLUMNS) <= columns
    assert not {"id", "number", "service_id", "dedup_key", "created_at"} & set(MUTABLE_COLUMNS)
