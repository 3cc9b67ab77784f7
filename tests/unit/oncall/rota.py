"""The three-layer rota of the acceptance test, with the answer worked out by hand."""

from __future__ import annotations

from datetime import datetime, time

from oncallnova.oncall import Layer, Override, Restriction, Schedule, TurnUnit
from tests.unit.oncall.helpers import local

ZONE = "Europe/Paris"
WEEKDAYS = frozenset(range(5))

# Layer 1 (bottom): alice and bob take weekly turns, handing off on Mondays at 09:00.
# Layer 2: carol and dave take daily turns, but only on weekdays 09:00-17:00.
# Layer 3 (top): erin covers weekend middays, 10:00-14:00 on Saturday and Sunday.
# Override: frank takes Wednesday 12:00-13:00 (carol's lunch).
# Paris springs forward on Sunday 2024-03-31 at 02:00, inside bob's night.
LAYERS = (
    Layer("weekly", ("alice", "bob"), datetime(2024, 3, 18, 9), TurnUnit.WEEKS),
    Layer(
        "business-hours",
        ("carol", "dave"),
        datetime(2024, 3, 25, 9),
        TurnUnit.DAYS,
        restrictions=(Restriction(WEEKDAYS, time(9), time(17)),),
    ),
    Layer(
        "weekend-midday",
        ("erin",),
        datetime(2024, 3, 25, 0),
        TurnUnit.WEEKS,
        restrictions=(Restriction(frozenset({5, 6}), time(10), time(14)),),
    ),
)
OVERRIDE = Override(
    "lunch", "frank", local(ZONE, "2024-03-27 12:00"), local(ZONE, "2024-03-27 13:00")
)
SCHEDULE = Schedule("rota", ZONE, LAYERS, (OVERRIDE,))

RANGE = ("2024-03-25 00:00", "2024-04-01 00:00")

# (local start, who, source, layer index or override id) — computed by hand.
EXPECTED = [
    ("2024-03-25 00:00", "alice", "layer", 0),  # last week's turn until Monday 09:00
    ("2024-03-25 09:00", "carol", "layer", 1),
    ("2024-03-25 17:00", "bob", "layer", 0),
    ("2024-03-26 09:00", "dave", "layer", 1),
    ("2024-03-26 17:00", "bob", "layer", 0),
    ("2024-03-27 09:00", "carol", "layer", 1),
    ("2024-03-27 12:00", "frank", "override", "lunch"),
    ("2024-03-27 13:00", "carol", "layer", 1),
    ("2024-03-27 17:00", "bob", "layer", 0),
    ("2024-03-28 09:00", "dave", "layer", 1),
    ("2024-03-28 17:00", "bob", "layer", 0),
    ("2024-03-29 09:00", "carol", "layer", 1),
    ("2024-03-29 17:00", "bob", "layer", 0),
    ("2024-03-30 10:00", "erin", "layer", 2),
    ("2024-03-30 14:00", "bob", "layer", 0),  # through the DST change
    ("2024-03-31 10:00", "erin", "layer", 2),  # 10:00 CEST = 08:00 UTC
    ("2024-03-31 14:00", "bob", "layer", 0),
]
