"""One place that turns exceptions into gRPC statuses for every edge's services.

Domain errors carry their HTTP status, mapped here to a gRPC code with the same message;
anything unexpected is logged and answered INTERNAL without internals (no SQL, no traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
import nats.errors

from oncallnova.errors import OnCallNovaError
from oncallnova.grpc_unary import Behaviour, UnaryInterceptor

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_for(error: OnCallNovaError) -> grpc.StatusCode:
    return STATUS_CODES.get(error.status_code, grpc.StatusCode.INVALID_ARGUMENT)


class _Undecodable:
    """Stands for a request whose bytes are not the method's protobuf message."""


_UNDECODABLE = _Undecodable()


class ErrorInterceptor(UnaryInterceptor):
    def deserializer(
        self, deserializer: Callable[[bytes], Any] | None
    ) -> Callable[[bytes], Any] | None:
        # grpc answers a deserializer's exception with UNKNOWN and the exception's class in the
        # message; `guarded` answers INVALID_ARGUMENT in plain words instead.
        if deserializer is None:
            return None

        def deserialize(data: bytes) -> Any:
            try:
                return deserializer(data)
            except Exception:
                return _UNDECODABLE

        return deserialize

    def wrap(self, inner: Behaviour, method: str) -> Behaviour:
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if request is _UNDECODABLE:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"the request is not a valid protobuf message for {method}",
                )
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                raise
            except OnCallNovaError as error:
                await context.abort(status_for(error), error.message)
            except (nats.errors.Error, ConnectionError):
                # The broker is down: the caller may retry; nothing was done.
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, "the message broker is unavailable; retry later"
                )
            except Exception:
                log.exception("gRPC %s failed", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return guarded
