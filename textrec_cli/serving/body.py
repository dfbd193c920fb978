"""A request body read with limits: refused (413) past its size before it is all read, (408) when
still incomplete after a timeout, so a stalled upload cannot hold a worker. Shared by /v1/predict
and /v1/contribute."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from textrec_cli.serving.payload import ApiError


async def read_limited(request: Request, max_bytes: int, timeout: float | None = None) -> bytes:
    """The body, refusing (413) anything over `max_bytes` before reading it all, and (408) a
    body still incomplete after `timeout` seconds: a stalled upload must not hold a worker."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body is {declared} bytes, over the {max_bytes} limit")
    chunks, size = [], 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(413, f"request body is over the {max_bytes}-byte limit")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, f"request body not received within {timeout:g} s") from None
    return b"".join(chunks)
