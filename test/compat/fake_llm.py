"""A fake OpenAI- and Anthropic-compatible provider on loopback, for the compatibility tests.

Answers the endpoints the real `openai` and `anthropic` Python clients call, with the response
shapes (and the `usage` objects) of the real APIs, so the real instrumentations that wrap those
clients see what they would see in production:

- POST /v1/chat/completions  (plain, and streamed as SSE with stream_options.include_usage)
- POST /v1/embeddings        (float or base64 encoding, as the client asks)
- POST /v1/messages          (Anthropic Messages, plain and streamed as SSE)
- POST /v1/responses         (OpenAI Responses, plain and streamed as SSE)
- POST /v1beta/models/{model}:generateContent | :streamGenerateContent | :embedContent |
  :batchEmbedContents        (Gemini API, as google-genai calls it; the embeddings carry no usage,
                             as Gemini's do not)
- POST /model/{modelId}/converse (Bedrock Runtime Converse; `inputTokens` excludes the cache)
- GET  /_calls               (the calls answered so far, for scenarios in another process)

A request that offers tools (OpenAI chat `tools`, Responses `tools`, Anthropic `tools`) and carries no
tool result yet is answered with a call of the first tool (its first required string parameter set to
"Paris"); with the tool's result in the conversation the answer is text, as a real tool loop goes.

Usage and response model per request model come from fixtures.json beside this file. Unknown models
get a 404 in the provider's error shape. Every answered call is recorded (`FakeLLM.calls`).

Standalone: `python fake_llm.py [--port N]` prints `port=N` and serves until interrupted.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

FIXTURES_PATH = Path(__file__).with_name("fixtures.json")
CREATED = 1_767_225_600  # a fixed timestamp keeps responses reproducible


def load_fixtures() -> dict[str, Any]:
    with FIXTURES_PATH.open(encoding="utf-8") as f:
        return json.load(f)


@dataclass
class Call:
    provider: str
    path: str
    model: str
    stream: bool


@dataclass
class FakeLLM:
    host: str = "127.0.0.1"
    port: int = 0
    fixtures: dict[str, Any] = field(default_factory=load_fixtures)
    calls: list[Call] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "FakeLLM":
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def openai_base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    owner: FakeLLM
    protocol_version = "HTTP/1.1"
    server_version = "fake-llm/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    # -- plumbing ---------------------------------------------------------------------------

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, dict[str, Any] | str]], headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        for name, payload in events:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
            chunk = frame.encode()
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _read_body(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path.split("?", 1)[0] == "/_calls":
            self._json(200, {"calls": [c.__dict__ for c in self.owner.calls]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        try:
            body = self._read_body()
        except ValueError:
            self._json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
            return
        path = self.path.split("?", 1)[0]
        if path == "/v1/chat/completions":
            self._chat(body)
        elif path == "/v1/embeddings":
            self._embeddings(body)
        elif path == "/v1/messages":
            self._messages(body)
        elif path == "/v1/responses":
            self._responses(body)
        elif path.startswith("/v1beta/models/") and ":" in path:
            self._google(path, body)
        elif path.startswith("/model/") and path.endswith("/converse"):
            self._converse(unquote(path[len("/model/") : -len("/converse")]), body)
        else:
            self._json(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})

    # -- OpenAI -----------------------------------------------------------------------------

    def _openai_fixture(self, model: str) -> dict[str, Any] | None:
        fixture = self.owner.fixtures["openai"].get(model)
        if fixture is None:
            self._json(
                404,
                {
                    "error": {
                        "message": f"The model `{model}` does not exist or you do not have access to it.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                },
            )
        return fixture

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        fixture = self._openai_fixture(model)
        if fixture is None:
            return
        stream = bool(body.get("stream"))
        self.owner.calls.append(Call("openai", "/v1/chat/completions", model, stream))
        completion_id = f"chatcmpl-fake{len(self.owner.calls):04d}"
        text = "Kubernetes schedules pods onto nodes."
        headers = {"x-request-id": f"req_{completion_id}", "openai-processing-ms": "12"}
        tool = _pending_tool(body.get("tools"), body.get("messages"), _openai_tool_done)
        if tool is not None and not stream:
            name, args = tool
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {"id": f"call_fake{len(self.owner.calls):04d}", "type": "function",
                     "function": {"name": name, "arguments": json.dumps(args)}}
                ],
            }
            self._json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": CREATED,
                    "model": fixture["responseModel"],
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}],
                    "usage": fixture["usage"],
                    "service_tier": "default",
                    "system_fingerprint": "fp_fake0001",
                },
                headers,
            )
            return
        if not stream:
            self._json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": CREATED,
                    "model": fixture["responseModel"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": fixture["usage"],
                    "service_tier": "default",
                    "system_fingerprint": "fp_fake0001",
                },
                headers,
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": fixture["responseModel"],
                "service_tier": "default",
                "system_fingerprint": "fp_fake0001",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                c["usage"] = None
            return c

        events: list[tuple[str | None, dict[str, Any] | str]] = [
            (None, chunk({"role": "assistant", "content": "", "refusal": None}, None))
        ]
        for word in text.split(" "):
            events.append((None, chunk({"content": word + " "}, None)))
        events.append((None, chunk({}, "stop")))
        if include_usage:
            events.append(
                (
                    None,
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": CREATED,
                        "model": fixture["responseModel"],
                        "service_tier": "default",
                        "system_fingerprint": "fp_fake0001",
                        "choices": [],
                        "usage": fixture["usage"],
                    },
                )
            )
        events.append((None, "[DONE]"))
        self._sse(events, headers)

    def _embeddings(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        fixture = self._openai_fixture(model)
        if fixture is None:
            return
        self.owner.calls.append(Call("openai", "/v1/embeddings", model, False))
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) and inputs and isinstance(inputs[0], str) else 1
        dims = int(body.get("dimensions") or 8)
        vector = [round(0.125 * ((i % 7) - 3), 3) for i in range(dims)]
        if body.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        else:
            encoded = vector
        self._json(
            200,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": encoded} for i in range(count)],
                "model": fixture["responseModel"],
                "usage": fixture["usage"],
            },
            {"x-request-id": f"req_emb{len(self.owner.calls):04d}"},
        )

    # -- Anthropic --------------------------------------------------------------------------

    def _messages(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        fixture = self.owner.fixtures["anthropic"].get(model)
        if fixture is None:
            self._json(
                404,
                {"type": "error", "error": {"type": "not_found_error", "message": f"model: {model}"}},
            )
            return
        stream = bool(body.get("stream"))
        self.owner.calls.append(Call("anthropic", "/v1/messages", model, stream))
        message_id = f"msg_fake{len(self.owner.calls):04d}"
        text = "Budgets reset at midnight UTC."
        usage = fixture["usage"]
        headers = {"request-id": f"req_{message_id}", "anthropic-organization-id": "org-fake"}
        tool = _pending_tool(body.get("tools"), body.get("messages"), _anthropic_tool_done)
        if tool is not None and not stream:
            name, args = tool
            self._json(
                200,
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": fixture["responseModel"],
                    "content": [{"type": "tool_use", "id": f"toolu_fake{len(self.owner.calls):04d}", "name": name, "input": args}],
                    "stop_reason": "tool_use",
                    "stop_sequence": None,
                    "usage": usage,
                },
                headers,
            )
            return
        if not stream:
            self._json(
                200,
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": fixture["responseModel"],
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": usage,
                },
                headers,
            )
            return
        start_usage = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
        events: list[tuple[str | None, dict[str, Any] | str]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": fixture["responseModel"],
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            ),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ]
        for word in text.split(" "):
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word + " "}},
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._sse(events, headers)

    # -- OpenAI Responses ---------------------------------------------------------------------

    def _responses(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        fixture = self._openai_fixture(model)
        if fixture is None:
            return
        stream = bool(body.get("stream"))
        self.owner.calls.append(Call("openai", "/v1/responses", model, stream))
        n = len(self.owner.calls)
        u = fixture["usage"]
        usage = {
            "input_tokens": u["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)},
            "output_tokens": u.get("completion_tokens", 0),
            "output_tokens_details": {
                "reasoning_tokens": (u.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
            },
            "total_tokens": u["total_tokens"],
        }
        items = body.get("input") if isinstance(body.get("input"), list) else []
        tool = _pending_tool(body.get("tools"), items, _responses_tool_done)
        text = "Kubernetes schedules pods onto nodes."
        if tool is not None:
            name, args = tool
            output: list[dict[str, Any]] = [
                {"type": "function_call", "id": f"fc_fake{n:04d}", "call_id": f"call_fake{n:04d}", "name": name,
                 "arguments": json.dumps(args), "status": "completed"}
            ]
        else:
            output = [
                {"type": "message", "id": f"msg_fake{n:04d}", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}
            ]
        response: dict[str, Any] = {
            "id": f"resp_fake{n:04d}",
            "object": "response",
            "created_at": CREATED,
            "status": "completed",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "metadata": {},
            "model": fixture["responseModel"],
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
        }
        headers = {"x-request-id": f"req_resp{n:04d}", "openai-processing-ms": "12"}
        if not stream:
            self._json(200, response, headers)
            return
        seq = iter(range(1, 1000))
        started = response | {"status": "in_progress", "output": [], "usage": None}
        events: list[tuple[str | None, dict[str, Any] | str]] = [
            ("response.created", {"type": "response.created", "sequence_number": next(seq), "response": started}),
            ("response.in_progress", {"type": "response.in_progress", "sequence_number": next(seq), "response": started}),
        ]
        item = output[0]
        if item["type"] == "message":
            empty = item | {"status": "in_progress", "content": []}
            events.append(("response.output_item.added", {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": 0, "item": empty}))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(("response.content_part.added", {"type": "response.content_part.added", "sequence_number": next(seq), "item_id": item["id"], "output_index": 0, "content_index": 0, "part": part}))
            for word in text.split(" "):
                events.append(("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": next(seq), "item_id": item["id"], "output_index": 0, "content_index": 0, "delta": word + " ", "logprobs": []}))
            events.append(("response.output_text.done", {"type": "response.output_text.done", "sequence_number": next(seq), "item_id": item["id"], "output_index": 0, "content_index": 0, "text": text, "logprobs": []}))
            events.append(("response.content_part.done", {"type": "response.content_part.done", "sequence_number": next(seq), "item_id": item["id"], "output_index": 0, "content_index": 0, "part": item["content"][0]}))
        else:
            events.append(("response.output_item.added", {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": 0, "item": item | {"arguments": "", "status": "in_progress"}}))
            events.append(("response.function_call_arguments.delta", {"type": "response.function_call_arguments.delta", "sequence_number": next(seq), "item_id": item["id"], "output_index": 0, "delta": item["arguments"]}))
            events.append(("response.function_call_arguments.done", {"type": "response.function_call_arguments.done", "sequence_number": next(seq), "item_id": item["id"], "output_index": 0, "name": item["name"], "arguments": item["arguments"]}))
        events.append(("response.output_item.done", {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": 0, "item": item}))
        events.append(("response.completed", {"type": "response.completed", "sequence_number": next(seq), "response": response}))
        self._sse(events, headers)

    # -- Gemini API -----------------------------------------------------------------------------

    def _google(self, path: str, body: dict[str, Any]) -> None:
        model, _, method = path[len("/v1beta/models/") :].partition(":")
        fixture = self.owner.fixtures["google"].get(model)
        if fixture is None:
            self._json(404, {"error": {"code": 404, "message": f"models/{model} is not found", "status": "NOT_FOUND"}})
            return
        n = len(self.owner.calls) + 1
        if method in ("embedContent", "batchEmbedContents"):
            self.owner.calls.append(Call("google", path, model, False))
            vector = {"values": [round(0.125 * ((i % 7) - 3), 3) for i in range(8)]}
            if method == "embedContent":
                self._json(200, {"embedding": vector})
            else:
                self._json(200, {"embeddings": [vector for _ in body.get("requests") or [0]]})
            return
        if method not in ("generateContent", "streamGenerateContent"):
            self._json(404, {"error": {"code": 404, "message": f"no method {method}", "status": "NOT_FOUND"}})
            return
        stream = method == "streamGenerateContent"
        self.owner.calls.append(Call("google", path, model, stream))
        text = "Pods are placed by the scheduler."
        usage = fixture["usageMetadata"]

        def chunk(part: str, finish: bool, usage_metadata: dict[str, Any]) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": part}]}, "index": 0}
            if finish:
                candidate["finishReason"] = "STOP"
            return {
                "candidates": [candidate],
                "usageMetadata": usage_metadata,
                "modelVersion": fixture["responseModel"],
                "responseId": f"resp-fake{n:04d}",
            }

        if not stream:
            self._json(200, chunk(text, True, usage))
            return
        # Gemini streams carry the prompt count on every chunk and the full usage on the last one.
        partial = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
        words = text.split(" ")
        events: list[tuple[str | None, dict[str, Any] | str]] = [
            (None, chunk(w + " ", False, partial)) for w in words[:-1]
        ]
        events.append((None, chunk(words[-1], True, usage)))
        self._sse(events, {})

    # -- Bedrock Converse ---------------------------------------------------------------------

    def _converse(self, model_id: str, body: dict[str, Any]) -> None:
        fixture = self.owner.fixtures["bedrock"].get(model_id)
        if fixture is None:
            self._json(400, {"message": "The provided model identifier is invalid."}, {"x-amzn-ErrorType": "ValidationException"})
            return
        self.owner.calls.append(Call("aws.bedrock", "/model/converse", model_id, False))
        self._json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "Budgets reset at midnight UTC."}]}},
                "stopReason": "end_turn",
                "usage": fixture["usage"],
                "metrics": {"latencyMs": 12},
            },
            {"x-amzn-RequestId": f"fake-{len(self.owner.calls):04d}"},
        )


def _first_string_param(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    required = schema.get("required") or list(props)
    return {required[0]: "Paris"} if required else {}


def _pending_tool(tools: Any, conversation: Any, done: Callable[[Any], bool]) -> tuple[str, dict[str, Any]] | None:
    """The first offered tool and its arguments, unless the conversation already has a tool result."""
    if not isinstance(tools, list) or not tools:
        return None
    if isinstance(conversation, list) and any(done(m) for m in conversation):
        return None
    tool = tools[0]
    if "function" in tool:  # chat completions
        fn = tool["function"]
        return str(fn["name"]), _first_string_param(fn.get("parameters"))
    if tool.get("type") == "function":  # responses
        return str(tool["name"]), _first_string_param(tool.get("parameters"))
    if "name" in tool:  # anthropic
        return str(tool["name"]), _first_string_param(tool.get("input_schema"))
    return None


def _openai_tool_done(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") == "tool"


def _anthropic_tool_done(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def _responses_tool_done(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "function_call_output"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    fake = FakeLLM(host=args.host, port=args.port).start()
    print(f"port={fake.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
