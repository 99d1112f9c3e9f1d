"""Fake Anthropic Messages and Google Gemini servers for the premium-member tests.

A real HTTP/1.1 server on 127.0.0.1 (ephemeral port, one thread per
connection) that replays each provider's wire format as its public API
reference describes it:

  POST /v1/messages                                    Anthropic Messages, stream=true:
      event: message_start / content_block_start / ping / content_block_delta (text_delta)
      / content_block_stop / message_delta (stop_reason, usage) / message_stop;
      errors as {"type": "error", "error": {"type": "overloaded_error", "message": ...}},
      429s with retry-after and anthropic-ratelimit-* headers
  POST /v1beta/models/MODEL:streamGenerateContent?alt=sse   Gemini:
      data: GenerateContentResponse chunks (candidates[].content.parts[].text,
      finishReason on the last, usageMetadata); no end marker, the stream just ends;
      errors as {"error": {"code", "message", "status", "details": [RetryInfo]}}

The model id picks the behaviour (a suffix "@tag" keeps counters apart between tests):

    ok / say-HEX   a streamed answer (the question quoted, or the UTF-8 text HEX encodes)
    auth           401 unless the key header carries FAKE_KEY
    echo           answers with a JSON summary of the request it got
    echokey        401 (Anthropic) / 400 (Gemini) whose message quotes the key it was sent
    r429           429 the first time (Anthropic: retry-after: 1; Gemini: RetryInfo 1s), then ok
    overloaded     Anthropic: 529 overloaded_error, always. Gemini: 503 UNAVAILABLE, always
    errfirst       Anthropic: 200, then an error event before any text the first time, then ok
    midstreamerr   Anthropic: a text delta, then an error event
    cut            two text pieces, then the connection is closed mid-stream
    thinking       Anthropic: a thinking block before the text; Gemini: a thought part first
    blocked        Gemini: promptFeedback.blockReason = SAFETY, no candidates
    multipart      Gemini: each chunk carries its text in two parts
    hang           accepts, then sends nothing until the test ends

    python3 tests/integration/fake_providers.py      # prints "PORT n", serves until killed
"""

import json
import time
import urllib.parse

import fake_http

FAKE_KEY = "sk-ant-test-7f3a9c2e41"


class Handler(fake_http.Handler):
    # --- shared ---
    def pieces(self, question, fault):
        if fault.startswith("say-"):
            text = bytes.fromhex(fault[4:]).decode("utf-8")
        else:
            text = "You asked: " + question
        return fake_http.word_pieces(text)

    def count(self, key, api, req):
        with self.server.lock:
            n = self.server.counts.get((api, key), 0) + 1
            self.server.counts[(api, key)] = n
            self.server.requests.append({"api": api, "model": key, "path": self.path,
                                         "headers": dict(self.headers), "body": req,
                                         "time": time.monotonic()})
        return n

    def do_POST(self):
        req = self.read_json()
        if req is None:
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/v1/messages":
            self.anthropic(req)
        elif url.path.startswith("/v1beta/models/") and url.path.endswith(":streamGenerateContent"):
            model = urllib.parse.unquote(url.path[len("/v1beta/models/"):-len(":streamGenerateContent")])
            self.gemini(model, req, urllib.parse.parse_qs(url.query))
        else:
            self.send_json(404, {"error": {"code": 404, "message": "no route " + url.path,
                                           "status": "NOT_FOUND"}})

    # --- Anthropic Messages ---
    def a_event(self, name, obj):
        self.chunk("event: %s\ndata: %s\n\n" % (name, json.dumps(obj)))

    def a_error_body(self, code, etype, message, headers=None):
        h = {"request-id": "req_fake01"}
        h.update(headers or {})
        self.send_json(code, {"type": "error", "error": {"type": etype, "message": message}}, h)

    def a_start(self, model):
        self.start_stream()
        self.a_event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake01", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 15, "output_tokens": 1}}})

    def a_text_block(self, index, pieces):
        self.a_event("content_block_start", {"type": "content_block_start", "index": index,
                                             "content_block": {"type": "text", "text": ""}})
        self.a_event("ping", {"type": "ping"})
        for p in pieces:
            self.a_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "text_delta", "text": p}})

    def a_answer(self, model, pieces, thinking=False):
        self.a_start(model)
        index = 0
        if thinking:
            self.a_event("content_block_start", {"type": "content_block_start", "index": 0,
                                                 "content_block": {"type": "thinking", "thinking": ""}})
            self.a_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "thinking_delta",
                                                           "thinking": "SECRET-REASONING"}})
            self.a_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "signature_delta",
                                                           "signature": "c2lnbmF0dXJl"}})
            self.a_event("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        self.a_text_block(index, pieces)
        self.a_event("content_block_stop", {"type": "content_block_stop", "index": index})
        self.a_event("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                       "usage": {"output_tokens": len(pieces)}})
        self.a_event("message_stop", {"type": "message_stop"})
        self.end_stream()

    def anthropic(self, req):
        model = req.get("model", "")
        fault = model.split("@")[0]
        count = self.count(model, "anthropic", req)
        key = self.headers.get("x-api-key", "")
        if not self.headers.get("anthropic-version"):
            self.a_error_body(400, "invalid_request_error", "anthropic-version: header is required")
            return
        if not req.get("stream") or not isinstance(req.get("max_tokens"), int):
            self.a_error_body(400, "invalid_request_error", "stream and max_tokens are expected")
            return
        question = next((m["content"] for m in reversed(req.get("messages", []))
                         if m.get("role") == "user"), "")
        pieces = self.pieces(question, fault)
        if fault.startswith("say-"):
            fault = "ok"
        if fault == "auth" and key != FAKE_KEY:
            self.a_error_body(401, "authentication_error", "invalid x-api-key")
        elif fault == "echokey":
            self.a_error_body(401, "authentication_error", "invalid x-api-key: '%s' was sent" % key)
        elif fault == "r429" and count == 1:
            self.a_error_body(429, "rate_limit_error",
                              "Number of request tokens has exceeded your per-minute rate limit",
                              {"retry-after": "1",
                               "anthropic-ratelimit-requests-limit": "50",
                               "anthropic-ratelimit-requests-remaining": "0",
                               "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:01Z"})
        elif fault == "overloaded":
            self.a_error_body(529, "overloaded_error", "Overloaded")
        elif fault == "errfirst" and count == 1:
            self.a_start(model)
            self.a_event("error", {"type": "error",
                                   "error": {"type": "overloaded_error", "message": "Overloaded"}})
            self.end_stream()
        elif fault == "midstreamerr":
            self.a_start(model)
            self.a_text_block(0, pieces[:2])
            self.a_event("error", {"type": "error",
                                   "error": {"type": "api_error", "message": "Internal server error"}})
            self.end_stream()
        elif fault == "cut":
            self.a_start(model)
            self.a_text_block(0, pieces[:2])
            self.cut()
        elif fault == "hang":
            self.wait(60)
        elif fault == "echo":
            summary = {"system": req.get("system"), "max_tokens": req.get("max_tokens"),
                       "temperature": req.get("temperature"), "top_p": req.get("top_p"),
                       "stream": req.get("stream"), "seed": req.get("seed"),
                       "version": self.headers.get("anthropic-version"),
                       "authorization": self.headers.get("Authorization")}
            self.a_answer(model, [json.dumps(summary, sort_keys=True)])
        else:
            self.a_answer(model, pieces, thinking=(fault == "thinking"))

    # --- Gemini generateContent ---
    def g_event(self, obj):
        self.chunk("data: " + json.dumps(obj) + "\r\n\r\n")

    def g_error(self, code, status, message, details=None):
        e = {"code": code, "message": message, "status": status}
        if details:
            e["details"] = details
        self.send_json(code, {"error": e})

    def g_chunk(self, text, model, finish=None, usage=None, multipart=False, thought=None):
        parts = []
        if thought:
            parts.append({"text": thought, "thought": True})
        if multipart and len(text) > 1:
            parts += [{"text": text[:1]}, {"text": text[1:]}]
        else:
            parts.append({"text": text})
        cand = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        obj = {"candidates": [cand], "modelVersion": model, "responseId": "fake-resp"}
        obj["usageMetadata"] = usage or {"promptTokenCount": 9, "totalTokenCount": 9}
        self.g_event(obj)

    def g_answer(self, model, pieces, multipart=False, thought=False):
        self.start_stream()
        for i, p in enumerate(pieces):
            last = i == len(pieces) - 1
            usage = {"promptTokenCount": 9, "candidatesTokenCount": len(pieces),
                     "totalTokenCount": 9 + len(pieces)} if last else None
            self.g_chunk(p, model, "STOP" if last else None, usage, multipart,
                         "SECRET-THOUGHT" if thought and i == 0 else None)
        self.end_stream()

    def gemini(self, model, req, query):
        fault = model.split("@")[0]
        count = self.count(model, "gemini", req)
        key = self.headers.get("x-goog-api-key", "")
        if query.get("alt") != ["sse"]:
            self.g_error(400, "INVALID_ARGUMENT", "this fake only streams with alt=sse")
            return
        try:
            question = req["contents"][-1]["parts"][0]["text"]
        except (KeyError, IndexError, TypeError):
            self.g_error(400, "INVALID_ARGUMENT", "contents[].parts[].text is required")
            return
        pieces = self.pieces(question, fault)
        if fault.startswith("say-"):
            fault = "ok"
        if fault == "auth" and key != FAKE_KEY:
            self.g_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                         [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                           "reason": "API_KEY_INVALID"}])
        elif fault == "echokey":
            self.g_error(400, "INVALID_ARGUMENT", "API key not valid: %s" % key)
        elif fault == "r429" and count == 1:
            self.g_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
                         [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}])
        elif fault == "overloaded":
            self.g_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        elif fault == "blocked":
            self.start_stream()
            self.g_event({"promptFeedback": {"blockReason": "SAFETY"},
                          "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}})
            self.end_stream()
        elif fault == "cut":
            self.start_stream()
            for p in pieces[:2]:
                self.g_chunk(p, model)
            self.cut()
        elif fault == "hang":
            self.wait(60)
        elif fault == "echo":
            summary = {"system": req.get("systemInstruction"), "config": req.get("generationConfig"),
                       "authorization": self.headers.get("Authorization")}
            self.g_answer(model, [json.dumps(summary, sort_keys=True)])
        else:
            self.g_answer(model, pieces, multipart=(fault == "multipart"),
                          thought=(fault == "thinking"))


class Server(fake_http.Server):
    def __init__(self):
        super().__init__(Handler)

    @property
    def anthropic_url(self):
        return "http://127.0.0.1:%d/v1" % self.server_address[1]

    @property
    def gemini_url(self):
        return "http://127.0.0.1:%d/v1beta" % self.server_address[1]


if __name__ == "__main__":
    fake_http.serve_main(Server())
