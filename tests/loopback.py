"""A loopback HTTP server for download tests: no test touches the network.

``serve(routes)`` answers ``GET path`` with ``routes[path]`` (404 otherwise) on 127.0.0.1 and
stops when the ``with`` block ends; ``closed_port()`` is a port that refuses connections, as
an offline machine would.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Loopback:
    """A running server: its base ``url`` (no trailing slash) and the paths requested so far."""

    url: str
    requests: list[str] = field(default_factory=list)


@contextmanager
def serve(routes: Mapping[str, bytes], truncated: Mapping[str, bytes] | None = None) -> Iterator[Loopback]:
    """Serve ``routes``; each ``truncated`` path announces its full length but sends only half, then hangs up."""
    cut = dict(truncated or {})
    loopback = Loopback("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
            loopback.requests.append(self.path)
            body = routes.get(self.path, cut.get(self.path))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path in cut else body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    loopback.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield loopback
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once, like being offline."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = int(server.server_address[1])
    server.server_close()
    return port
