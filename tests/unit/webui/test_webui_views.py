"""The console's pure helpers: durations, pagination, redirects, dashboard figures, the feed's
wire format, snippets, rota drawing and who may act."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from edge.webui import access, analytics_view, feed, rota, views
from edge.webui.snippets import snippets
from oncallnova import oncall as domain
from oncallnova.security.principal import Principal
from oncallnova.security.roles import Role

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (-5, "0s"), (0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"),
     (3600, "1h 00m"), (3 * 3600 + 5 * 60, "3h 05m"), (86400 + 4 * 3600, "1d 4h")],
)  # fmt: skip
def test_duration(seconds: float | None, text: str) -> None:
    assert views.duration(seconds) == text


def test_percentile_by_nearest_rank() -> None:
    assert views.percentile([], 50) is None
    assert views.percentile([5], 99) == 5
    assert views.percentile([1, 2, 3, 4], 50) == 2
    assert views.percentile(list(range(1, 101)), 99) == 99


@pytest.mark.parametrize(
    ("offset", "limit", "total", "first", "last", "prev", "next_"),
    [(0, 25, 0, 0, 0, None, None), (0, 25, 10, 1, 10, None, None), (0, 25, 60, 1, 25, None, 25),
     (25, 25, 60, 26, 50, 0, 50), (50, 25, 60, 51, 60, 25, None), (10, 25, 60, 11, 35, 0, 35)],
)  # fmt: skip
def test_pagination(offset, limit, total, first, last, prev, next_) -> None:  # type: ignore[no-untyped-def]
    page = views.Pagination(offset, limit, total)
    assert (page.first, page.last, page.previous_offset, page.next_offset) == (
        first, last, prev, next_,
    )  # fmt: skip


def test_query_with_keeps_repeated_filters_and_replaces_offset() -> None:
    params = [("status", "triggered"), ("status", "acknowledged"), ("offset", "25")]
    assert views.query_with(params, offset=50) == "?status=triggered&status=acknowledged&offset=50"
    assert views.query_with(params, offset=None) == "?status=triggered&status=acknowledged"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/incidents?status=triggered", "/incidents?status=triggered"), (None, "/"), ("", "/"),
     ("https://evil.example/", "/"), ("//evil.example/", "/"), ("/\\evil.example", "/"),
     ("javascript:alert(1)", "/"), ("/ok\r\nSet-Cookie: x=1", "/")],
)  # fmt: skip
def test_safe_next_stays_on_site(target: str | None, expected: str) -> None:
    assert views.safe_next(target) == expected


@dataclass
class FakeIncident:
    created_at: datetime
    severity: str = "critical"
    urgency: str = "high"
    alert_count: int = 1
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


def test_day_figures_count_the_last_24_hours_only() -> None:
    rows = [
        FakeIncident(NOW - timedelta(minutes=30), acknowledged_at=NOW - timedelta(minutes=28),
                     resolved_at=NOW - timedelta(minutes=10), alert_count=3),
        FakeIncident(NOW - timedelta(hours=5), severity="warning",
                     acknowledged_at=NOW - timedelta(hours=4)),
        FakeIncident(NOW - timedelta(hours=23, minutes=59), severity="info"),
        FakeIncident(NOW - timedelta(hours=25)),  # too old
    ]  # fmt: skip
    figures = views.day_figures(rows, NOW)
    assert figures.incidents == 3
    assert figures.alerts == 5
    assert figures.mtta_s == 120  # nearest-rank median of 120 s and 3600 s
    assert figures.mttr_s == 20 * 60
    assert figures.per_hour[23] == 1 and figures.per_hour[19] == 1 and figures.per_hour[0] == 1
    assert sum(figures.per_hour) == 3
    assert figures.by_severity == {"critical": 1, "error": 0, "warning": 1, "info": 1}


def test_sort_open_puts_high_urgency_first_then_newest() -> None:
    old_high = FakeIncident(NOW - timedelta(hours=2))
    new_high = FakeIncident(NOW - timedelta(minutes=1))
    new_low = FakeIncident(NOW, urgency="low")
    assert views.sort_open([new_low, old_high, new_high]) == [new_high, old_high, new_low]


def test_bar_chart_scales_to_the_tallest_bar() -> None:
    bars = views.bar_chart([0, 2, 4], ["a", "b", "c"], width=30, height=40)
    assert [b.height for b in bars] == [0.0, 20.0, 40.0]
    assert [b.y for b in bars] == [40.0, 20.0, 0.0]
    assert bars[1].x == pytest.approx(11)


def test_actor_label_names_people_and_integrations() -> None:
    assert views.actor_label("user:u1", {"u1": "Ada"}, {}) == "Ada"
    assert views.actor_label("integration:s1", {}, {"s1": "checkout"}) == "checkout (integration)"
    assert views.actor_label("system:escalator", {}, {}) == "system:escalator"


@pytest.mark.parametrize(
    ("last_event_id", "after", "expected"),
    [(None, None, None), ("41", None, 41), (None, "7", 7), ("41", "7", 41), ("x", "7", 7),
     ("", None, None), (" 12 ", None, 12), ("-3", None, None)],
)  # fmt: skip
def test_resume_point_prefers_last_event_id(last_event_id, after, expected) -> None:  # type: ignore[no-untyped-def]
    assert feed.parse_resume_point(last_event_id, after) == expected


def test_sse_message_carries_the_stream_sequence_as_id() -> None:
    body = {"event": "triggered", "incident": {"id": "i1", "title": "a\nb"}}
    wire = feed.sse_message(feed.FeedItem(42, body)).decode()
    assert wire.endswith("\n\n")
    lines = wire.strip("\n").split("\n")
    assert lines[0] == "id: 42"
    assert len(lines) == 2 and json.loads(lines[1].removeprefix("data: ")) == body


def test_snippets_fill_in_the_key_and_parse() -> None:
    key = "0123456789abcdef0123456789abcdef"
    found = {
        s.id: s for s in snippets("http://oncall.example:8080/", key, "checkout", "nats://n:4222")
    }
    assert set(found) == {
        "alertmanager-webhook",
        "alertmanager-pagerduty",
        "grafana",
        "curl",
        "nats",
    }
    webhook = yaml.safe_load(found["alertmanager-webhook"].text)["receivers"][0]
    assert webhook["webhook_configs"][0]["url"] == (
        f"http://oncall.example:8080/api/v1/integrations/alertmanager/{key}"
    )
    pagerduty = yaml.safe_load(found["alertmanager-pagerduty"].text)["receivers"][0]
    assert pagerduty["pagerduty_configs"][0] == {
        "url": "http://oncall.example:8080/v2/enqueue", "routing_key": key, "send_resolved": True,
    }  # fmt: skip
    grafana = yaml.safe_load(found["grafana"].text)["contactPoints"][0]["receivers"][0]
    assert grafana["settings"]["url"].endswith(f"/api/v1/integrations/grafana/{key}")
    body = found["curl"].text.split("-d '", 1)[1].rsplit("'", 1)[0]
    assert json.loads(body)["routing_key"] == key
    compile(found["nats"].text, "producer.py", "exec")
    assert f'"Integration-Key": "{key}"' in found["nats"].text
    assert "nats://n:4222" in found["nats"].text


def shift(start_h: int, end_h: int, user: str | None) -> domain.Shift:
    source = domain.ShiftSource.LAYER if user else domain.ShiftSource.GAP
    return domain.Shift(NOW + timedelta(hours=start_h), NOW + timedelta(hours=end_h), user, source)


def test_segments_are_clipped_to_the_range_in_percent() -> None:
    start, end = NOW, NOW + timedelta(hours=10)
    shifts = [shift(-5, 2, "a"), shift(2, 7, None), shift(7, 20, "b")]
    palette = rota.colours(["a", "b"])
    bars = rota.segments(shifts, start, end, {"a": "Ada"}, palette)
    assert [(b.x, b.width) for b in bars] == [(0.0, 20.0), (20.0, 50.0), (70.0, 30.0)]
    assert [b.name for b in bars] == ["Ada", "nobody", "b"]
    assert [b.colour for b in bars] == ["c0", "gap", "c1"]


def test_colours_are_stable_and_wrap() -> None:
    palette = rota.colours([f"u{n}" for n in range(10)] + ["u0"])
    assert palette["u0"] == "c0" and palette["u7"] == "c7" and palette["u8"] == "c0"


def test_day_ticks_fall_on_local_midnights_across_dst() -> None:
    # Paris leaves summer time on 2026-10-25: that day is 25 hours long.
    start = datetime(2026, 10, 23, 22, 0, tzinfo=UTC)  # midnight, Saturday 24th, in Paris
    end = start + timedelta(days=3)
    ticks = rota.day_ticks(start, end, "Europe/Paris")
    assert [t.label for t in ticks] == ["Sat 24", "Sun 25", "Mon 26"]
    hours = [t.x * 72 / 100 for t in ticks]
    assert hours == pytest.approx([0, 24, 49])


def person(role: Role, teams: frozenset[str] = frozenset()) -> access.Viewer:
    return access.Viewer(Principal(user_id=role.name, role=role, team_ids=teams), role.name)


ADMIN = person(Role.admin)
RESPONDER = person(Role.responder, frozenset({"team-1"}))
VIEWER = person(Role.viewer, frozenset({"team-1"}))


@pytest.mark.parametrize(
    ("who", "team", "see", "act"),
    [(ADMIN, "team-2", True, True), (ADMIN, None, True, True),
     (RESPONDER, "team-1", True, True), (RESPONDER, "team-2", False, False),
     (RESPONDER, None, True, True), (VIEWER, "team-1", True, False),
     (VIEWER, "team-2", False, False), (VIEWER, None, True, False)],
)  # fmt: skip
def test_who_may_see_and_act(who: access.Viewer, team: str | None, see: bool, act: bool) -> None:
    assert access.can_see(who, team) is see
    assert access.can_act(who, team) is act
    assert access.can_manage_services(who) is (who is ADMIN)


def test_day_stacks_stack_severities_bottom_up() -> None:
    series = [
        {"date": "2026-11-27", "total": 0, "by_severity": {"critical": 0, "error": 0, "warning": 0, "info": 0}},
        {"date": "2026-11-28", "total": 4, "by_severity": {"critical": 1, "error": 0, "warning": 3, "info": 0}},
        {"date": "2026-11-29", "total": 2, "by_severity": {"critical": 2, "error": 0, "warning": 0, "info": 0}},
    ]  # fmt: skip
    stacks = analytics_view.day_stacks(series, width=300, height=100)
    assert [s.total for s in stacks] == [0, 4, 2]
    assert stacks[0].parts == []
    assert stacks[1].parts == [("critical", 75.0, 25.0, 1), ("warning", 0.0, 75.0, 3)]
    assert stacks[2].parts == [("critical", 50.0, 50.0, 2)]
    assert stacks[2].x == pytest.approx(201)


def test_time_rows_list_overall_then_severities_then_services() -> None:
    breakdown = {
        "overall": {"count": 3, "p50": 60.0, "p90": 600.0, "p99": 900.0},
        "by_severity": {"critical": {"count": 3, "p50": 60.0, "p90": 600.0, "p99": 900.0},
                        "info": {"count": 0, "p50": None, "p90": None, "p99": None}},
        "by_service": [{"service_id": "s1", "service_name": "checkout", "count": 3,
                        "p50": 60.0, "p90": 600.0, "p99": 900.0}],
    }  # fmt: skip
    rows = analytics_view.time_rows(breakdown)
    assert [r.label for r in rows] == ["All incidents", "critical", "checkout"]
    assert (rows[0].count, rows[0].p50, rows[0].p99) == (3, 60.0, 900.0)


def test_load_rows_keep_busy_people_busiest_first() -> None:
    people = [
        {"name": "Idle", "hours_on_call": 0, "incidents_assigned": 0},
        {"name": "Ada", "hours_on_call": 12.5, "incidents_assigned": 1},
        {"name": "Grace", "hours_on_call": 40, "incidents_assigned": 0},
        {"name": "Linus", "hours_on_call": None, "incidents_assigned": 2},
    ]
    assert [p["name"] for p in analytics_view.load_rows(people)] == ["Grace", "Ada", "Linus"]


def test_the_mail_pages_render_the_inbox_answers() -> None:
    from datetime import datetime as dt

    from starlette.requests import Request

    from edge.webui.pages import templates

    env = templates().env
    request = Request({"type": "http", "headers": [], "method": "GET", "path": "/mail"})
    summary = {"id": 7, "message_id": "<m7@x>", "mail_from": "oncall@example.com",
               "to": ["ada@example.com"], "subject": "[TRIGGERED] #12 Disk full <db1>",
               "received_at": "2026-11-29T09:00:00Z"}  # fmt: skip
    common = {"request": request, "viewer": None, "csrf": "", "now": dt.now(UTC), "path": "/mail"}
    listing = env.get_template("mail.html").render(
        **common, available=True, problem=None, messages=[summary], total=1
    )
    assert 'href="/mail/7"' in listing and "[TRIGGERED] #12 Disk full &lt;db1&gt;" in listing
    one = env.get_template("mail_message.html").render(
        **common,
        message={
            **summary,
            "text": "Acknowledge: https://x/a?t=1",
            "html": "<b>x</b>",
            "raw": "...",
        },
    )
    assert "Acknowledge: https://x/a?t=1" in one and "<b>x</b>" not in one
    missing = env.get_template("mail.html").render(
        **common, available=False, problem=None, messages=[]
    )
    assert "Not available yet" in missing
