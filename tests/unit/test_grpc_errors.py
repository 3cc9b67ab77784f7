"""The gRPC error interceptor: domain errors keep their meaning, surprises reveal nothing."""

from __future__ import annotations

import grpc
import pytest

from oncallnova.errors import NotFound
from oncallnova.grpc_errors import ErrorInterceptor


async def boom(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError('relation "incidents" does not exist: SELECT secret FROM …')


async def missing(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise NotFound("no incident 'x'", field="id")


async def fine(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request.upper()


@pytest.fixture
async def channel():  # type: ignore[no-untyped-def]
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn)
        for name, fn in (("Boom", boom), ("Missing", missing), ("Fine", fine))
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Svc", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(None)


@pytest.mark.parametrize(
    ("method", "code", "details"),
    [
        ("Boom", grpc.StatusCode.INTERNAL, "internal error"),
        ("Missing", grpc.StatusCode.NOT_FOUND, "no incident 'x'"),
    ],
)
async def test_errors_become_statuses(channel, method: str, code, details: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary(f"/test.Svc/{method}")(b"x")
    assert raised.value.code() == code
    assert raised.value.details() == details


async def test_success_passes_through(channel) -> None:  # type: ignore[no-untyped-def]
    assert await channel.unary_unary("/test.Svc/Fine")(b"ok") == b"OK"
