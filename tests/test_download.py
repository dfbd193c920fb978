"""download_file against a real local HTTP server that speaks (or ignores) Range requests."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from textrec_cli.data.download import download_file
from textrec_cli.errors import TextrecError

PAYLOAD = bytes(range(256)) * 1000  # 256 kB, several read chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FileServer:
    """Serves `files` (path -> bytes); records each request's path, Range header and bytes sent."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.honor_range = True
        self.cut_after: int | None = None  # send only this many body bytes, then hang up
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                record = {"path": self.path, "range": self.headers.get("Range"), "sent": 0}
                server.requests.append(record)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and server.honor_range:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = (
                    body[start:] if server.cut_after is None else body[start:][: server.cut_after]
                )
                # recorded before writing: the client may have read it all (and the test
                # checked `requests`) before this thread runs again
                record["sent"] = len(chunk)
                self.wfile.write(chunk)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer()
    thread = threading.Thread(target=srv.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def test_fresh_download_verifies_and_leaves_no_part(server: FileServer, tmp_path: Path) -> None:
    server.files["/a.zip"] = PAYLOAD
    dest = tmp_path / "raw" / "a.zip"
    out = download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=False)
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("a.zip.part").exists()
    assert [r["range"] for r in server.requests] == [None]


def test_existing_valid_dest_needs_no_network(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "a.zip"
    dest.write_bytes(PAYLOAD)
    assert download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=False) == dest
    assert download_file([server.url("/a.zip")], dest, None, show_progress=False) == dest
    assert server.requests == []


def test_resume_requests_only_the_remainder(server: FileServer, tmp_path: Path) -> None:
    server.files["/a.zip"] = PAYLOAD
    dest = tmp_path / "a.zip"
    done = 100_000
    dest.with_name("a.zip.part").write_bytes(PAYLOAD[:done])
    download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [
        {"path": "/a.zip", "range": f"bytes={done}-", "sent": len(PAYLOAD) - done}
    ]


def test_interrupted_download_resumes_on_next_call(server: FileServer, tmp_path: Path) -> None:
    server.files["/a.zip"] = PAYLOAD
    server.cut_after = 70_000
    dest = tmp_path / "a.zip"
    with pytest.raises(TextrecError, match="could not download a.zip"):
        download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=False)
    assert dest.with_name("a.zip.part").stat().st_size == 70_000
    assert not dest.exists()
    server.cut_after = None
    download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == "bytes=70000-"


def test_server_ignoring_range_restarts_from_zero(server: FileServer, tmp_path: Path) -> None:
    server.files["/a.zip"] = PAYLOAD
    server.honor_range = False
    dest = tmp_path / "a.zip"
    dest.with_name("a.zip.part").write_bytes(b"stale bytes that would corrupt an append")
    download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0]["sent"] == len(PAYLOAD)


def test_complete_part_answered_416_is_kept(server: FileServer, tmp_path: Path) -> None:
    server.files["/a.zip"] = PAYLOAD
    dest = tmp_path / "a.zip"
    dest.with_name("a.zip.part").write_bytes(PAYLOAD)
    download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert [r["sent"] for r in server.requests] == [0]


def test_checksum_mismatch_keeps_existing_dest(server: FileServer, tmp_path: Path) -> None:
    server.files["/a.zip"] = PAYLOAD
    dest = tmp_path / "a.zip"
    old = b"an older, different archive"
    dest.write_bytes(old)
    with pytest.raises(TextrecError, match="checksum mismatch for a.zip: expected 0+, got ") as exc:
        download_file([server.url("/a.zip")], dest, "0" * 64, show_progress=False)
    assert PAYLOAD_SHA in str(exc.value)
    assert "\n" not in str(exc.value)
    assert dest.read_bytes() == old
    assert not dest.with_name("a.zip.part").exists()


def test_falls_back_to_next_mirror_on_404(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.files["/mirror/a.zip"] = PAYLOAD
    dest = tmp_path / "a.zip"
    urls = [server.url("/dead/a.zip"), server.url("/mirror/a.zip")]
    download_file(urls, dest, PAYLOAD_SHA, show_progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert [r["path"] for r in server.requests] == ["/dead/a.zip", "/mirror/a.zip"]
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "/dead/a.zip" in err and "404" in err


def test_all_mirrors_failing_is_one_line_error(server: FileServer, tmp_path: Path) -> None:
    urls = [server.url("/x.zip"), "http://127.0.0.1:9/x.zip"]  # 404, then connection refused
    with pytest.raises(TextrecError) as exc:
        download_file(urls, tmp_path / "x.zip", None, show_progress=False, timeout=5)
    message = str(exc.value)
    assert "\n" not in message
    assert all(url in message for url in urls)
    assert "--from PATH" in message
    assert not (tmp_path / "x.zip").exists()


def test_file_url(tmp_path: Path) -> None:
    source = tmp_path / "src" / "a.zip"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "a.zip"
    dest.parent.mkdir()
    dest.with_name("a.zip.part").write_bytes(b"junk from an earlier try")
    download_file([source.as_uri()], dest, PAYLOAD_SHA, show_progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("a.zip.part").exists()


def test_missing_file_url_falls_back(tmp_path: Path) -> None:
    source = tmp_path / "a.zip"
    source.write_bytes(PAYLOAD)
    urls = [(tmp_path / "missing.zip").as_uri(), source.as_uri()]
    assert download_file(urls, tmp_path / "b.zip", PAYLOAD_SHA, show_progress=False).is_file()


def test_progress_bar_does_not_break_download(server: FileServer, tmp_path: Path) -> None:
    server.files["/a.zip"] = PAYLOAD
    dest = tmp_path / "a.zip"
    download_file([server.url("/a.zip")], dest, PAYLOAD_SHA, show_progress=True)
    assert dest.read_bytes() == PAYLOAD
