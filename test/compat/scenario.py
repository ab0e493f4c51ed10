"""One compatibility scenario: a real GenAI instrumentation from PyPI wraps the real `openai` /
`anthropic` client, the client calls the fake provider (fake_llm.py, started here on loopback), and
the standard OpenTelemetry Python SDK exports the spans over OTLP to the GenOps receiver.

    python scenario.py <scenario>

The exporter is configured only by the standard variables, as in an instrumented pod:
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL (grpc | http/protobuf),
OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_RESOURCE_ATTRIBUTES, OTEL_SEMCONV_STABILITY_OPT_IN.

Besides the OTLP exporter, every finished span is kept in memory; the last line of stdout is
`COMPAT_RESULT {json}` with the package versions, the calls the fake provider answered and every
span's name, kind, scope, parent and attributes (long content attributes shortened), so the test can
show exactly what an instrumentation sent.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_llm import FakeLLM  # noqa: E402

PACKAGES = [
    "openai",
    "anthropic",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-util-genai",
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-instrumentation-openai",
    "opentelemetry-instrumentation-anthropic",
    "openinference-instrumentation-openai",
    "openlit",
    "pydantic-ai-slim",
    "langchain-core",
    "langchain-openai",
    "opentelemetry-instrumentation-langchain",
    "openai-agents",
    "openinference-instrumentation-openai-agents",
    "google-genai",
    "opentelemetry-instrumentation-google-genai",
    "boto3",
    "botocore",
    "opentelemetry-instrumentation-botocore",
    "litellm",
]

QUESTION = [{"role": "user", "content": "How does Kubernetes schedule pods?"}]


def otlp_exporter() -> Any:
    """The OTLP span exporter the standard variables ask for, built with no arguments so that
    endpoint, compression and headers come from the environment (as the SDK's auto-configuration
    does)."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http()
    raise SystemExit(f"unsupported OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}")


def standard_sdk() -> TracerProvider:
    """TracerProvider with the resource from OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME and a
    batching OTLP exporter, installed globally (what opentelemetry-instrument would do)."""
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(otlp_exporter()))
    trace.set_tracer_provider(provider)
    return provider


# -- the application code the instrumentations observe ---------------------------------------


def openai_calls(fake: FakeLLM) -> None:
    import openai

    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
    # 1. chat with a prompt-cache hit
    client.chat.completions.create(model="gpt-4o", messages=QUESTION, temperature=0.2)
    # 2. streamed reasoning-model chat, usage in the last chunk
    stream = client.chat.completions.create(
        model="o4-mini", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass
    # 3. embeddings
    client.embeddings.create(model="text-embedding-3-small", input=["pods", "nodes"])


def anthropic_calls(fake: FakeLLM) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0)
    # 1. cache read and cache write in one call (Anthropic reports input_tokens without the cache)
    client.messages.create(
        model="claude-sonnet-4-20250514",
        max_tokens=1024,
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        messages=QUESTION,
    )
    # 2. streamed call
    stream = client.messages.create(
        model="claude-3-5-haiku-20241022", max_tokens=512, messages=QUESTION, stream=True
    )
    for _ in stream:
        pass
    # 3. a cache read smaller than the uncached input: tells apart emitters that send Anthropic's raw
    #    input_tokens from those that send the semconv total
    client.messages.create(model="claude-3-7-sonnet-20250219", max_tokens=256, messages=QUESTION)


# -- agent / workflow wrappers as the instrumentations' own helper APIs make them -----------------


@contextmanager
def otel_genai_agent() -> Iterator[None]:
    """opentelemetry-util-genai's workflow + invoke_agent spans around the calls, with the agent
    reporting its children's usage again (as agent frameworks built on util-genai do)."""
    from opentelemetry.util.genai.handler import get_telemetry_handler

    handler = get_telemetry_handler()
    # util-genai 0.x takes the provider (and names the agent later); 1.x takes the agent's name.
    takes_provider = "provider" in inspect.signature(handler.invoke_local_agent).parameters
    with handler.workflow("triage"):
        if takes_provider:
            agent_cm = handler.invoke_local_agent("openai", request_model="gpt-4o")
        else:
            agent_cm = handler.invoke_local_agent(agent_name="planner", request_model="gpt-4o")
        with agent_cm as agent:
            if getattr(agent, "agent_name", None) is None:
                agent.agent_name = "planner"
            yield
            agent.input_tokens = 1200 + 600 + 800
            agent.output_tokens = 300 + 900


@contextmanager
def openinference_agent() -> Iterator[None]:
    """OpenInference AGENT and CHAIN spans (OITracer) around the calls, the agent repeating the
    children's token counts."""
    from openinference.instrumentation import OITracer, TraceConfig

    tracer = OITracer(trace.get_tracer("compat.agent"), config=TraceConfig())
    with tracer.start_as_current_span("triage", openinference_span_kind="chain"):
        with tracer.start_as_current_span("planner", openinference_span_kind="agent") as agent:
            yield
            agent.set_attribute("llm.token_count.prompt", 1200 + 600 + 800)
            agent.set_attribute("llm.token_count.completion", 300 + 900)
            agent.set_attribute("llm.token_count.total", 3800)
            agent.set_attribute("llm.model_name", "gpt-4o")
            agent.set_attribute("llm.provider", "openai")


@contextmanager
def openlit_trace() -> Iterator[None]:
    import openlit

    with openlit.start_trace("triage") as span:
        yield
        span.set_result("done")


# -- scenarios ----------------------------------------------------------------------------------


def instrument_openai_v2() -> None:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


def instrument_genai_openai() -> None:
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


def instrument_openllmetry_openai() -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


def instrument_openllmetry_anthropic() -> None:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    AnthropicInstrumentor().instrument()


def instrument_openinference_openai() -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


def init_openlit() -> None:
    import openlit

    # OpenLIT builds its own TracerProvider and OTLP exporter from OTEL_EXPORTER_OTLP_* (as its docs
    # tell users to); only the two instrumentations under test are left on.
    openlit.init(
        application_name=os.environ.get("OTEL_SERVICE_NAME", "compat"),
        environment="compat",
        disable_metrics=True,
        disable_events=True,
        capture_message_content=False,
        pricing_json=os.path.join(os.path.dirname(os.path.abspath(__file__)), "openlit-pricing.json"),
        disabled_instrumentors=[
            name for name in openlit_instrumentor_names() if name not in ("openai", "anthropic")
        ],
    )


def openlit_instrumentor_names() -> list[str]:
    try:
        from openlit._instrumentors import MODULE_NAME_MAP  # type: ignore[import-not-found]

        return list(MODULE_NAME_MAP)
    except ImportError:
        return []


# -- frameworks over the provider SDKs ----------------------------------------------------------

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


def instrument_pydantic_ai() -> None:
    from pydantic_ai import Agent
    from pydantic_ai.embeddings import Embedder

    # pydantic-ai's own GenAI spans (agent run, chat, tool, embeddings), on the global tracer provider.
    Agent.instrument_all()
    Embedder.instrument_all()


def pydantic_ai_openai_calls(fake: FakeLLM) -> None:
    import asyncio

    from pydantic_ai import Agent
    from pydantic_ai.embeddings import Embedder
    from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=fake.openai_base_url, api_key="sk-fake")
    # 1. plain chat with a cache hit
    Agent(OpenAIChatModel("gpt-4o", provider=provider)).run_sync("How does Kubernetes schedule pods?")

    # 2. streamed reasoning-model chat (pydantic-ai asks for stream usage)
    async def stream() -> None:
        agent = Agent(OpenAIChatModel("o4-mini", provider=provider))
        async with agent.run_stream("How does Kubernetes schedule pods?") as result:
            async for _ in result.stream_text():
                pass

    asyncio.run(stream())
    # 3. a tool loop: two model calls in one agent run
    Agent(OpenAIChatModel("gpt-4.1-mini", provider=provider), tools=[weather]).run_sync("Weather in Paris?")
    # 4. embeddings
    Embedder(OpenAIEmbeddingModel("text-embedding-3-small", provider=provider)).embed_documents_sync(
        ["pods", "nodes"]
    )


def pydantic_ai_anthropic_calls(fake: FakeLLM) -> None:
    import asyncio

    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    # The anthropic SDK (2.x) traces each API call itself on the same tracer provider: every model
    # call below has pydantic-ai's chat span and, nested in it, the SDK's own chat span.
    provider = AnthropicProvider(base_url=fake.anthropic_base_url, api_key="sk-ant-fake")
    Agent(AnthropicModel("claude-sonnet-4-20250514", provider=provider)).run_sync("How are budgets reset?")

    async def stream() -> None:
        agent = Agent(AnthropicModel("claude-3-5-haiku-20241022", provider=provider))
        async with agent.run_stream("How are budgets reset?") as result:
            async for _ in result.stream_text():
                pass

    asyncio.run(stream())
    Agent(AnthropicModel("claude-3-7-sonnet-20250219", provider=provider), tools=[weather]).run_sync(
        "Weather in Paris?"
    )


def instrument_langchain_openllmetry() -> None:
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    # Both, as Traceloop.init() does: the LangChain spans and, nested, the OpenAI client's spans.
    LangchainInstrumentor().instrument()
    OpenAIInstrumentor().instrument()


def langchain_calls(fake: FakeLLM) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    common = {"base_url": fake.openai_base_url, "api_key": "sk-fake", "max_retries": 0}
    ChatOpenAI(model="gpt-4o", **common).invoke("How does Kubernetes schedule pods?")
    for _ in ChatOpenAI(model="o4-mini", stream_usage=True, **common).stream("How does Kubernetes schedule pods?"):
        pass
    # a tool loop by hand, as LangChain's docs show it
    weather_tool = tool(weather)
    llm = ChatOpenAI(model="gpt-4.1-mini", **common).bind_tools([weather_tool])
    messages: list[Any] = [("user", "Weather in Paris?")]
    first = llm.invoke(messages)
    messages.append(first)
    for call in first.tool_calls:
        messages.append(weather_tool.invoke(call))
    llm.invoke(messages)
    OpenAIEmbeddings(model="text-embedding-3-small", check_embedding_ctx_length=False, **common).embed_documents(
        ["pods", "nodes"]
    )


def instrument_openai_agents() -> None:
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    OpenAIAgentsInstrumentor().instrument()


def openai_agents_calls(fake: FakeLLM) -> None:
    import asyncio

    import openai
    from agents import Agent, Runner, function_tool, set_default_openai_client

    async def main() -> None:
        # One event loop for the client and the three runs. The Agents SDK's own trace export (to
        # OpenAI's platform) is replaced by OpenInference's processor, which makes OTel spans.
        client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        set_default_openai_client(client, use_for_tracing=False)
        # 1. Responses API (the SDK's default), cache hit
        await Runner.run(Agent(name="planner", model="gpt-4o"), "How does Kubernetes schedule pods?")
        # 2. streamed, reasoning tokens
        result = Runner.run_streamed(Agent(name="reasoner", model="o4-mini"), "How does Kubernetes schedule pods?")
        async for _ in result.stream_events():
            pass
        # 3. a tool loop: two model calls in one run
        await Runner.run(Agent(name="weather", model="gpt-4.1-mini", tools=[function_tool(weather)]), "Weather in Paris?")

    asyncio.run(main())


def instrument_google_genai() -> None:
    from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

    GoogleGenAiSdkInstrumentor().instrument()


def google_genai_calls(fake: FakeLLM) -> None:
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key="fake-key",
        http_options=types.HttpOptions(base_url=f"http://{fake.host}:{fake.port}", api_version="v1beta"),
    )
    # 1. cached content and thinking tokens (Gemini counts thoughts apart from the candidates)
    client.models.generate_content(model="gemini-2.5-flash", contents="How does Kubernetes schedule pods?")
    # 2. streamed
    for _ in client.models.generate_content_stream(model="gemini-2.5-flash-lite", contents="How?"):
        pass
    # 3. embeddings (the Gemini API reports no usage for them)
    client.models.embed_content(model="gemini-embedding-001", contents=["pods", "nodes"])


def instrument_botocore() -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument()


def bedrock_calls(fake: FakeLLM) -> None:
    import boto3

    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://{fake.host}:{fake.port}",
        aws_access_key_id="AKIAFAKEFAKEFAKEFAKE",
        aws_secret_access_key="fake-secret",
    )
    question = [{"role": "user", "content": [{"text": "How are budgets reset?"}]}]
    # 1. an inference profile, cache read (4000) larger than the uncached input (500)
    client.converse(modelId="us.anthropic.claude-sonnet-4-20250514-v1:0", messages=question)
    # 2. cache read (1000) smaller than the uncached input (3000)
    client.converse(modelId="amazon.nova-pro-v1:0", messages=question)


def init_litellm() -> None:
    import litellm

    # LiteLLM's OTel callback on the global tracer provider (set up by the standard SDK above).
    litellm.callbacks = ["otel"]


def litellm_calls(fake: FakeLLM) -> None:
    import litellm

    base = fake.openai_base_url
    litellm.completion(model="openai/gpt-4o", messages=QUESTION, api_base=base, api_key="sk-fake")
    for _ in litellm.completion(
        model="openai/o4-mini", messages=QUESTION, api_base=base, api_key="sk-fake", stream=True,
        stream_options={"include_usage": True},
    ):
        pass
    litellm.embedding(model="openai/text-embedding-3-small", input=["pods", "nodes"], api_base=base, api_key="sk-fake")
    litellm.completion(
        model="anthropic/claude-sonnet-4-20250514", messages=QUESTION, api_base=fake.anthropic_base_url,
        api_key="sk-ant-fake", max_tokens=1024,
    )
    litellm.flush_cache() if hasattr(litellm, "flush_cache") else None


Setup = Callable[[], None]
Calls = Callable[[FakeLLM], None]
Wrapper = Callable[[], Any]

SCENARIOS: dict[str, tuple[bool, Setup, list[Calls], Wrapper | None]] = {
    # name: (standard SDK?, instrument, calls, agent/workflow wrapper)
    "otel-openai-v2": (True, instrument_openai_v2, [openai_calls], otel_genai_agent),
    "otel-genai-openai": (True, instrument_genai_openai, [openai_calls], otel_genai_agent),
    "openllmetry-openai": (True, instrument_openllmetry_openai, [openai_calls], None),
    "openllmetry-anthropic": (True, instrument_openllmetry_anthropic, [anthropic_calls], None),
    "openinference-openai": (True, instrument_openinference_openai, [openai_calls], openinference_agent),
    "openlit": (False, init_openlit, [openai_calls, anthropic_calls], openlit_trace),
    "pydantic-ai-openai": (True, instrument_pydantic_ai, [pydantic_ai_openai_calls], None),
    "pydantic-ai-anthropic": (True, instrument_pydantic_ai, [pydantic_ai_anthropic_calls], None),
    "langchain-openllmetry": (True, instrument_langchain_openllmetry, [langchain_calls], None),
    "openai-agents-openinference": (True, instrument_openai_agents, [openai_agents_calls], None),
    "google-genai": (True, instrument_google_genai, [google_genai_calls], None),
    "bedrock-botocore": (True, instrument_botocore, [bedrock_calls], None),
    "litellm": (True, init_litellm, [litellm_calls], None),
}


def short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 160:
        return value[:157] + "..."
    if isinstance(value, (tuple, list)):
        return [short(v) for v in value]
    return value


def describe(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": span.kind.name,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else "",
        "spanId": format(span.context.span_id, "016x"),
        "parentId": format(span.parent.span_id, "016x") if span.parent else None,
        "attributes": {k: short(v) for k, v in sorted((span.attributes or {}).items())},
        "events": [e.name for e in span.events],
    }


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for p in PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            pass
    return out


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        raise SystemExit(f"usage: scenario.py {{{'|'.join(SCENARIOS)}}}")
    name = sys.argv[1]
    standard, setup, calls, wrapper = SCENARIOS[name]
    if standard:
        standard_sdk()
    setup()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise SystemExit(f"{name}: no SDK TracerProvider installed (got {type(provider).__name__})")
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))

    fake = FakeLLM().start()
    try:
        with wrapper() if wrapper else nullcontext():
            for run in calls:
                run(fake)
    finally:
        fake.stop()
    flushed = provider.force_flush(10_000)
    provider.shutdown()
    result = {
        "scenario": name,
        "semconvOptIn": os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", ""),
        "protocol": os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        "flushed": flushed,
        "versions": versions(),
        "calls": [c.__dict__ for c in fake.calls],
        "resource": dict(provider.resource.attributes),
        "spans": [describe(s) for s in memory.get_finished_spans()],
    }
    print("COMPAT_RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
