"""Which service name and OTLP protocol a process uses, from the standard variables."""

from __future__ import annotations

import pytest

from oncallnova import telemetry


@pytest.mark.parametrize(
    ("command", "names", "expected"),
    [("up", [""], "oncallnova"), ("worker", ["lifecycle"], "oncallnova-lifecycle"),
     ("edge", ["ingestion"], "oncallnova-ingestion"), ("migrate", [""], "oncallnova-migrate")],
)  # fmt: skip
def test_service_name_per_component(command: str, names: list[str], expected: str) -> None:
    assert telemetry.service_name_for(command, names) == expected


@pytest.mark.parametrize(
    ("environ", "protocol"),
    [({}, "http/protobuf"), ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
     ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
       "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, "http/protobuf")],
)  # fmt: skip
def test_protocol_defaults_to_http_protobuf(environ: dict, protocol: str) -> None:
    assert telemetry.otlp_protocol(environ) == protocol


def test_nothing_is_recorded_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert telemetry.setup_tracing("oncallnova-test") is False
    assert not telemetry.enabled()
    with telemetry.tracer().start_as_current_span("free") as span:
        assert not span.is_recording()


def test_sampler_comes_from_the_standard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-the-environment")
    provider = telemetry.new_provider("oncallnova-lifecycle")
    assert "0.25" in provider.sampler.get_description()
    assert provider.resource.attributes["service.name"] == "from-the-environment"
