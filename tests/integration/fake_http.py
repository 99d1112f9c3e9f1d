"""What the fake upstream servers (fake_openai.py, fake_providers.py) share.

Handler: an HTTP/1.1 request handler with JSON replies, chunked text/event-stream replies, a
cut connection and waits that end when the server closes. Server: a threaded server on
127.0.0.1 (ephemeral port) that counts and records requests for the tests to read.
word_pieces: an answer split into streamed pieces, a word each. serve_main: a fake server run
as a program prints "PORT n" and serves until killed.
"""

import http.server
import json
import socket
import threading


def word_pieces(text):
    """The text as streamed pieces: the first word, then " word" for each next one."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def read_json(self):
        """The request body as JSON, or None after answering 400."""
        n = int(self.headers.get("Content-Length", "0"))
        try:
            return json.loads(self.rfile.read(n))
        except ValueError:
            self.send_json(400, {"error": {"message": "request is not JSON"}})
            return None

    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self):
        """Closes the connection mid-reply."""
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def wait(self, seconds):
        """Sleeps, or less when the server is closing."""
        self.server.stop.wait(seconds)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a whole council connects at once

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.counts = {}
        self.requests = []
        self.stop = threading.Event()

    def handle_error(self, request, client_address):
        pass  # clients hanging up early is what several tests do on purpose

    def start(self):
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def close(self):
        self.stop.set()
        self.shutdown()
        self.server_close()


def serve_main(server):
    """Prints "PORT n" and serves until killed (a fake server run as a program)."""
    print("PORT", server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.close()
