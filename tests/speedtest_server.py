"""A local HTTP server that speaks what speedtest-cli needs of a Speedtest Mini server:
the mini page, latency.txt, random{N}x{N}.jpg downloads and upload.php. Loopback only."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = b"\x5a" * 65536


class MiniHandler(BaseHTTPRequestHandler):
    server: MiniServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.endswith("/latency.txt") or ".txt." in self.path:
            self._send(b"test=test")
        elif m := re.search(r"random(\d+)x(\d+)\.jpg$", path):
            size = int(m.group(1)) * int(m.group(2))
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            left = size
            try:
                while left > 0:
                    n = min(left, len(CHUNK))
                    self.wfile.write(CHUNK[:n])
                    left -= n
                    self.server.bytes_sent += n
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self._send(b'<html><script>var upload_extension: "php";</script>Speedtest Mini</html>')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        got = 0
        while got < length:
            data = self.rfile.read(min(65536, length - got))
            if not data:
                break
            got += len(data)
        self.server.bytes_received += got
        self._send(f"size={got}".encode())

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class MiniServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hang up mid-transfer when their test time is over

    bytes_sent = 0
    bytes_received = 0


def start() -> tuple[MiniServer, str]:
    server = MiniServer(("127.0.0.1", 0), MiniHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/speedtest/"
