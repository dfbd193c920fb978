"""Run the API under uvicorn with deadlines a slow or idle client cannot stretch.

uvicorn's h11 protocol times out an idle keep-alive connection only after a response: a client
that connects and sends nothing, or trickles a header line every half second, holds its socket
(and a slot) as long as it likes. `DeadlineH11Protocol` closes any connection whose request head
is not complete within `header_timeout` seconds of connecting or of the previous response. The
body has its own deadline in the app (`create_app(..., body_timeout=...)`, a 408).

`uvicorn --factory textrec_cli.serving.app:app_from_env --http
textrec_cli.serving.server:DeadlineH11Protocol` gives the container the same header deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from textrec_cli import settings

log = logging.getLogger("textrec.serving")


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on each request's head (request line + headers)."""

    header_timeout: float = settings.SERVE_HEADER_TIMEOUT_S
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_deadline_hit)

    def _head_deadline_hit(self) -> None:
        """Close the connection if its request head has still not arrived in full."""
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closed %s: no complete request head within %.0f s", client, self.header_timeout)
        self.transport.close()


def run_server(app: Any, host: str, port: int) -> None:
    """uvicorn.run with textrec's deadlines: request head, keep-alive idle time (body: the app)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        http=DeadlineH11Protocol,
        timeout_keep_alive=settings.SERVE_KEEP_ALIVE_S,
        h11_max_incomplete_event_size=settings.SERVE_MAX_HEAD_BYTES,
    )
