"""A test server that misbehaves on purpose, for what nginx will not do (testbed.md): hold the
first byte for a known time, cut a transfer after N bytes, close before any byte, answer 503,
stall (slow loris). Plain sockets and threads, so that every byte's timing is the test's.

Paths (the request's method and body are read first; an upload's body to its end unless the
path says otherwise):

- ``/ok/<bytes>``: 200 with that many bytes (PUT/POST: 204 once the whole body is read).
- ``/delay/<ms>/<bytes>``: the whole answer held back ``ms`` after the request was read.
- ``/cut/<n>/<bytes>``: announces ``bytes``, sends ``n`` of them, closes.
- ``/close``: closes without a byte.
- ``/status/<code>``: that HTTP status, no body.
- ``/stall/<n>/<bytes>``: announces ``bytes``, sends ``n``, then sends nothing more (the socket
  stays open until the client gives up).
- ``/cut-upload/<n>``: reads ``n`` bytes of an upload's body, then closes.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

CHUNK = 64 * 1024
ZEROS = bytes(CHUNK)


def realtime() -> bool:
    """Put the calling thread (and the processes it starts) on SCHED_FIFO when allowed: on a
    loaded machine an ordinary thread wakes milliseconds late, which a 2 ms check would see."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (PermissionError, AttributeError, OSError):
        return False
    return True


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        got = conn.recv(65536)
        if not got:
            raise ConnectionError("client closed before a request")
        data += got
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return method, path, headers, rest


def _read_body(conn: socket.socket, length: int, already: int, limit: int | None = None) -> int:
    got = already
    want = length if limit is None else min(length, limit)
    while got < want:
        chunk = conn.recv(min(1 << 20, want - got))
        if not chunk:
            break
        got += len(chunk)
    return got


def _send_body(conn: socket.socket, n: int) -> None:
    while n > 0:
        piece = ZEROS[: min(CHUNK, n)]
        conn.sendall(piece)
        n -= len(piece)


def _head(status: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class MisbehavingServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))  # a port from the kernel: parallel runs do not collide
        self.sock.listen(128)
        self.host, self.port = self.sock.getsockname()[:2]
        self.closing = threading.Event()
        self.request_read_at: list[float] = []  # monotonic time each request was read
        self.holds_s: list[float] = []  # /delay: request read -> first byte sent, as it was
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def _serve(self) -> None:
        realtime()
        while not self.closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        realtime()
        with conn, suppress(OSError, ConnectionError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            method, path, headers, rest = _read_request(conn)
            parts = path.strip("/").split("/")
            length = int(headers.get("content-length", "0"))
            if parts[0] == "cut-upload":
                _read_body(conn, length, len(rest), limit=int(parts[1]))
                conn.shutdown(socket.SHUT_RDWR)
                return
            if method in ("PUT", "POST"):
                _read_body(conn, length, len(rest))
            read_at = time.monotonic()
            self.request_read_at.append(read_at)
            kind = parts[0]
            if kind == "ok":
                if method in ("PUT", "POST"):
                    conn.sendall(_head("204 No Content", None))
                else:
                    conn.sendall(_head("200 OK", int(parts[1])))
                    _send_body(conn, int(parts[1]))
            elif kind == "delay":
                time.sleep(int(parts[1]) / 1000)
                self.holds_s.append(time.monotonic() - read_at)
                conn.sendall(_head("200 OK", int(parts[2])) + ZEROS[: min(CHUNK, int(parts[2]))])
                _send_body(conn, max(0, int(parts[2]) - CHUNK))
            elif kind == "cut":
                conn.sendall(_head("200 OK", int(parts[2])))
                _send_body(conn, int(parts[1]))
                conn.shutdown(socket.SHUT_RDWR)
            elif kind == "close":
                conn.shutdown(socket.SHUT_RDWR)
            elif kind == "status":
                conn.sendall(_head(f"{parts[1]} Misbehaving", 0))
            elif kind == "stall":
                conn.sendall(_head("200 OK", int(parts[2])))
                _send_body(conn, int(parts[1]))
                while not self.closing.is_set() and conn.recv(1):
                    pass  # hold the socket until the client closes it

    def close(self) -> None:
        self.closing.set()
        self.sock.close()


@contextmanager
def misbehaving_server() -> Iterator[MisbehavingServer]:
    server = MisbehavingServer()
    try:
        yield server
    finally:
        server.close()
