"""Calls envoy.service.auth.v3.Authorization/Check with the client generated from Envoy's own protos
(xds-protos: envoy/service/auth/v3/external_auth_pb2_grpc.py), the way Envoy's ext_authz filter fills
a CheckRequest, and prints what came back as one JSON line per case.

Usage: python envoy_check.py HOST:PORT < cases.json
cases.json: [{"name": ..., "source": "10.0.0.5", "method": "POST", "path": "/v1/chat/completions",
              "host": "api.openai.com", "headers": {...}, "body": "..."} | {"name": ..., "raw": "hex"}]
"""

import json
import sys

import grpc
from envoy.config.core.v3 import address_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc


def request(case):
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        id="req-" + case["name"],
        method=case.get("method", "POST"),
        path=case.get("path", "/"),
        host=case.get("host", ""),
        scheme="http",
        protocol="HTTP/1.1",
        headers=case.get("headers", {}),
    )
    if "body" in case:
        http.body = case["body"]
        http.size = len(case["body"])
    source = attribute_context_pb2.AttributeContext.Peer(
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address=case.get("source", "127.0.0.1"), port_value=40000)
        )
    )
    return external_auth_pb2.CheckRequest(
        attributes=attribute_context_pb2.AttributeContext(
            source=source,
            request=attribute_context_pb2.AttributeContext.Request(http=http),
        )
    )


def describe(response):
    out = {"status": response.status.code, "message": response.status.message}
    kind = response.WhichOneof("http_response")
    out["kind"] = kind
    if kind == "ok_response":
        out["headers"] = {h.header.key: h.header.value for h in response.ok_response.headers}
        out["response_headers"] = {h.header.key: h.header.value for h in response.ok_response.response_headers_to_add}
    elif kind == "denied_response":
        d = response.denied_response
        out["http_status"] = d.status.code
        out["headers"] = {h.header.key: h.header.value for h in d.headers}
        out["body"] = json.loads(d.body)
    return out


def main():
    target = sys.argv[1]
    cases = json.load(sys.stdin)
    with grpc.insecure_channel(target) as channel:
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        # The same method with bytes we choose, for the error paths (a malformed CheckRequest).
        raw = channel.unary_unary(
            "/envoy.service.auth.v3.Authorization/Check",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        for case in cases:
            result = {"name": case["name"]}
            try:
                if "raw" in case:
                    raw(bytes.fromhex(case["raw"]), timeout=5)
                    result["grpc"] = "OK"
                else:
                    result["grpc"] = "OK"
                    result.update(describe(stub.Check(request(case), timeout=5)))
            except grpc.RpcError as e:
                result["grpc"] = e.code().name
                result["details"] = e.details()
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
