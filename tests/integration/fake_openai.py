"""A fake OpenAI-compatible chat-completions server for the council tests.

A real HTTP/1.1 server on 127.0.0.1 (ephemeral port, one thread per
connection) that speaks POST .../chat/completions, streamed (SSE, chunked
transfer encoding) or whole. The model id picks the behaviour, so one
server plays every member of a council at once:

    ok          streams an answer that quotes the question, then usage, then [DONE]
    nousage     the same without a usage chunk
    whole       ignores stream=true and replies with one JSON document
    echo        answers with a JSON summary of the request it got
    auth        401 unless "Authorization: Bearer $FAKE_KEY" and "X-Drux-Test: yes" arrive
    fail500     HTTP 500 with an OpenAI error body, always
    r429        HTTP 429 with Retry-After: 1 the first time, then like ok
    flaky503    HTTP 503 (no Retry-After) the first time, then like ok
    errbody     HTTP 404 with {"error": {"message": "model ... does not exist"}}
    hang        accepts, then sends nothing until the test ends
    hangmid     sends two pieces, then nothing
    strict      HTTP 400 if the request has stream_options, else like ok (no usage then)
    linger      sends a whole answer and [DONE], then keeps the stream open
    cut         sends two pieces, then closes the connection mid-stream
    badjson     sends a piece, then a chunk that is not JSON
    streamerr   sends a piece, then {"error": {...}} in the stream
    huge        sends one SSE line of 1.5 MiB
    trickle     sends ten pieces 0.15 s apart
    chatty      sends 5000 pieces of 300 bytes (1.5 MB of answer)
    say-HEX     streams the UTF-8 text HEX encodes, word by word (a scripted answer)
    slowsay-HEX the same, 0.2 s between words (an answer being written)
    echokey     HTTP 401 whose message quotes the bearer key it was sent
    cumulative  usage in every chunk, counting up (as Perplexity streams it), no [DONE]
                until after the finish chunk

A suffix "@tag" (e.g. "r429@t1") keeps per-model counters apart between tests.

    python3 tests/integration/fake_openai.py      # prints "PORT n", serves until killed
"""

import json
import time

import fake_http

FAKE_KEY = "sk-test-123"


def say(text):
    """The model id that makes this server stream text as its answer."""
    return "say-" + text.encode().hex()


class Handler(fake_http.Handler):
    def event(self, obj):
        self.chunk("data: " + json.dumps(obj) + "\n\n")

    def delta(self, text, model):
        self.event({"id": "c1", "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})

    def pieces_for(self, req):
        q = next((m.get("content", "") for m in reversed(req.get("messages", []))
                  if m.get("role") == "user"), "")
        return fake_http.word_pieces("You asked: " + q)

    def stream_answer(self, req, pieces, usage=True, split_lines=False):
        model = req.get("model", "")
        self.start_stream()
        self.chunk(": keep-alive comment\n\n")
        self.event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for p in pieces:
            if split_lines:  # one event split across many writes
                raw = "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}) + "\r\n\r\n"
                for i in range(0, len(raw), 7):
                    self.chunk(raw[i:i + 7])
            else:
                self.delta(p, model)
        self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if usage and (req.get("stream_options") or {}).get("include_usage"):
            self.event({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": len(pieces),
                                                 "total_tokens": 11 + len(pieces)}})
        self.chunk("data: [DONE]\n\n")
        self.end_stream()

    # --- the endpoint ---
    def do_POST(self):
        req = self.read_json()
        if req is None:
            return
        if not self.path.endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "no route " + self.path}})
            return
        model = req.get("model", "")
        fault = model.split("@")[0]
        with self.server.lock:
            count = self.server.counts.get(model, 0) + 1
            self.server.counts[model] = count
            self.server.requests.append({"model": model, "headers": dict(self.headers), "body": req,
                                         "time": time.monotonic()})
        pieces = self.pieces_for(req)
        if fault.startswith("say-"):
            pieces = fake_http.word_pieces(bytes.fromhex(fault[4:]).decode("utf-8"))
            fault = "ok"
        if fault.startswith("slowsay-"):
            pieces = fake_http.word_pieces(bytes.fromhex(fault[8:]).decode("utf-8"))
            self.start_stream()
            for p in pieces:
                self.delta(p, model)
                self.wait(0.2)
            self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self.chunk("data: [DONE]\n\n")
            self.end_stream()
            return

        if fault == "fail500":
            self.send_json(500, {"error": {"message": "internal boom", "type": "server_error"}})
        elif fault == "r429" and count == 1:
            self.send_json(429, {"error": {"message": "slow down", "type": "rate_limit"}},
                           {"Retry-After": "1"})
        elif fault == "flaky503" and count == 1:
            self.send_json(503, {"error": {"message": "overloaded"}})
        elif fault == "errbody":
            self.send_json(404, {"error": {"message": "model '%s' does not exist" % model,
                                           "code": "model_not_found"}})
        elif fault == "echokey":
            self.send_json(401, {"error": {"message": "Incorrect API key provided: %s"
                                           % self.headers.get("Authorization", "")[7:],
                                           "type": "invalid_request_error"}})
        elif fault == "cumulative":
            self.start_stream()
            for i, p in enumerate(pieces):
                self.event({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}],
                            "usage": {"prompt_tokens": 7, "completion_tokens": i + 1,
                                      "total_tokens": 8 + i}})
            self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 7, "completion_tokens": len(pieces),
                                  "total_tokens": 7 + len(pieces)}})
            self.chunk("data: [DONE]\n\n")
            self.end_stream()
        elif fault == "auth":
            if self.headers.get("Authorization") != "Bearer " + FAKE_KEY:
                self.send_json(401, {"error": {"message": "invalid api key"}})
            elif self.headers.get("X-Drux-Test") != "yes":
                self.send_json(400, {"error": {"message": "missing X-Drux-Test header"}})
            else:
                self.stream_answer(req, pieces)
        elif fault == "whole":
            text = "".join(pieces)
            self.send_json(200, {"object": "chat.completion", "model": model,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
        elif fault == "echo":
            summary = {k: req.get(k) for k in ("temperature", "seed", "top_p", "max_tokens",
                                                "stream", "stream_options")}
            summary["system"] = next((m["content"] for m in req["messages"] if m["role"] == "system"), None)
            self.stream_answer(req, [json.dumps(summary, sort_keys=True)])
        elif fault == "hang":
            self.wait(60)
        elif fault == "hangmid":
            self.start_stream()
            self.delta("partial", model)
            self.delta(" answer", model)
            self.wait(60)
        elif fault == "cut":
            self.start_stream()
            self.delta("partial", model)
            self.delta(" answer", model)
            self.cut()
        elif fault == "badjson":
            self.start_stream()
            self.delta("fine so far", model)
            self.chunk('data: {"choices": [{"delta": {"content": "x"}\n\n')
            self.chunk("data: [DONE]\n\n")
            self.end_stream()
        elif fault == "streamerr":
            self.start_stream()
            self.delta("fine so far", model)
            self.event({"error": {"message": "the model is overloaded", "type": "server_error"}})
            self.end_stream()
        elif fault == "huge":
            self.start_stream()
            self.chunk("data: " + "x" * (3 << 19))
            self.chunk("\n\n")
            self.end_stream()
        elif fault == "trickle":
            self.start_stream()
            for i in range(10):
                self.delta("w%d " % i, model)
                self.wait(0.15)
            self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self.chunk("data: [DONE]\n\n")
            self.end_stream()
        elif fault == "strict":  # an older server that refuses stream_options
            if "stream_options" in req:
                self.send_json(400, {"error": {"message": "Unrecognized request argument supplied: "
                                                          "stream_options"}})
            else:
                self.stream_answer(req, pieces)
        elif fault == "linger":  # a whole answer, then the stream stays open
            self.start_stream()
            self.delta("complete", model)
            self.chunk("data: [DONE]\n\n")
            self.wait(60)
        elif fault == "chatty":
            self.stream_answer(req, ["y" * 299 + "\n"] * 5000)
        elif fault == "nousage":
            self.stream_answer(req, pieces, usage=False, split_lines=True)
        else:
            self.stream_answer(req, pieces)


class Server(fake_http.Server):
    def __init__(self):
        super().__init__(Handler)

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.server_address[1]


if __name__ == "__main__":
    fake_http.serve_main(Server())
