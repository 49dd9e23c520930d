"""Drives Switchyard's Responses API with the official `openai` Python client, as a user's script would.

Usage: responses_client.py <scenario> <base_url> <api_key> <model> [options as JSON]

Prints one JSON line per step (flushed at once, so a test can act on a step while the rest runs).
An exception prints {"error": <class>, "message": ..., "status": ...} and exits 1.

Scenarios:
  plain            create(input, instructions?)                      -> {id, status, text, usage, model}
  stream           create(stream=True), every event                   -> {types, sequence_numbers, text, final}
  stream-helper    responses.stream(...) and get_final_response()     -> {types, deltas, text, id, status}
  tools            a call, then `input += r.output` + function_call_output -> {call, text, ...}
  structured       responses.parse(text_format=<pydantic model>)      -> {parsed, text}
  background-poll  create(background=True), then retrieve every 0.5 s until terminal (at most `poll_s`)
                   -> {step:"created", id, status}, then {step:"final", id, status, text, polls}
"""

import json
import sys
import time

from openai import APIStatusError, OpenAI
from pydantic import BaseModel

TERMINAL = ("completed", "failed", "cancelled", "incomplete")


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def usage_of(r):
    return r.usage.model_dump() if r.usage is not None else None


def plain(client, model, opts):
    kwargs = {"model": model, "input": opts.get("input", "Hello")}
    if "instructions" in opts:
        kwargs["instructions"] = opts["instructions"]
    r = client.responses.create(**kwargs)
    emit(id=r.id, status=r.status, text=r.output_text, usage=usage_of(r), model=r.model)


def stream(client, model, opts):
    types, seqs, deltas, final = [], [], [], None
    with client.responses.create(model=model, input=opts.get("input", "Hello"), stream=True) as events:
        for event in events:
            types.append(event.type)
            seqs.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type in ("response.completed", "response.incomplete", "response.failed"):
                final = event.response
    emit(
        types=types,
        sequence_numbers=seqs,
        text="".join(deltas),
        final=None
        if final is None
        else {"id": final.id, "status": final.status, "text": final.output_text, "usage": usage_of(final)},
    )


def stream_helper(client, model, opts):
    types, deltas = [], []
    with client.responses.stream(model=model, input=opts.get("input", "Hello")) as s:
        for event in s:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = s.get_final_response()
    emit(types=types, deltas=deltas, text=final.output_text, id=final.id, status=final.status)


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def tools(client, model, opts):
    inputs = [{"role": "user", "content": opts.get("input", "Weather in Oslo?")}]
    first = client.responses.create(model=model, input=inputs, tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    if not calls:
        emit(error="NoCall", message="the first response has no function_call", output=first.model_dump())
        sys.exit(1)
    call = calls[0]
    # The documented round trip: the output items go back as input, then each call's result.
    inputs += first.output
    inputs.append({"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"celsius": 4})})
    second = client.responses.create(model=model, input=inputs, tools=[WEATHER_TOOL])
    emit(
        first_id=first.id,
        first_status=first.status,
        call={"id": call.id, "call_id": call.call_id, "name": call.name, "arguments": json.loads(call.arguments)},
        id=second.id,
        status=second.status,
        text=second.output_text,
    )


class Weather(BaseModel):
    city: str
    celsius: float


def structured(client, model, opts):
    r = client.responses.parse(
        model=model, input=opts.get("input", "Weather in Oslo as JSON"), text_format=Weather
    )
    emit(
        id=r.id,
        status=r.status,
        parsed=None if r.output_parsed is None else r.output_parsed.model_dump(),
        text=r.output_text,
    )


def background_poll(client, model, opts):
    r = client.responses.create(model=model, input=opts.get("input", "Hello"), background=True)
    emit(step="created", id=r.id, status=r.status, background=r.background)
    deadline = time.monotonic() + float(opts.get("poll_s", 120))
    polls = 0
    # The usual loop (the client has no built-in one): retrieve until the status is terminal.
    while r.status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(float(opts.get("interval_s", 0.5)))
        r = client.responses.retrieve(r.id)
        polls += 1
    emit(
        step="final",
        id=r.id,
        status=r.status,
        text=r.output_text,
        polls=polls,
        error=None if r.error is None else r.error.model_dump(),
    )


SCENARIOS = {
    "plain": plain,
    "stream": stream,
    "stream-helper": stream_helper,
    "tools": tools,
    "structured": structured,
    "background-poll": background_poll,
}


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in SCENARIOS:
        sys.stderr.write(__doc__)
        sys.exit(2)
    scenario, base_url, api_key, model = sys.argv[1:5]
    opts = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=float(opts.get("timeout_s", 60)))
    try:
        SCENARIOS[scenario](client, model, opts)
    except APIStatusError as e:
        emit(error=type(e).__name__, status=e.status_code, message=str(e), body=e.body)
        sys.exit(1)
    except Exception as e:  # anything else: the test prints it
        emit(error=type(e).__name__, message=str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
