"""The GenAI application of the end-to-end tier: the real `openai` client, wrapped by the real
opentelemetry-instrumentation-openai-v2, calls the fake provider pod in a loop. The exporter is
configured only by the standard OTEL_* variables, which the operator's webhook injects into the pod;
nothing here knows the operator.

Environment: OPENAI_BASE_URL (the fake provider), MODEL (a model of test/compat/fixtures.json),
INTERVAL_SECONDS (between calls), CALLS (0: until stopped).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import openai
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def exporter():
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http()
    raise SystemExit(f"unsupported OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}")


def main() -> None:
    provider = TracerProvider(resource=Resource.create())
    # A short delay: the test waits for the spend of each call.
    provider.add_span_processor(BatchSpanProcessor(exporter(), schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument()

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    client = openai.OpenAI(api_key="e2e-test", max_retries=0, timeout=10)
    model = os.environ.get("MODEL", "gpt-4o")
    interval = float(os.environ.get("INTERVAL_SECONDS", "2"))
    calls = int(os.environ.get("CALLS", "0"))
    print(f"endpoint={os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT')} provider={client.base_url}", flush=True)
    done = 0
    while not stopping and (calls == 0 or done < calls):
        try:
            answer = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Say hello"}]
            )
            done += 1
            print(f"call {done}: {answer.model} {answer.usage.total_tokens} tokens", flush=True)
        except Exception as error:  # keep calling: the provider may not be up yet
            print(f"call failed: {error}", file=sys.stderr, flush=True)
        time.sleep(interval)
    provider.shutdown()


if __name__ == "__main__":
    main()
