"""Drives Switchyard's gRPC API from Python, with stubs generated from the repository's proto by
grpcio-tools (`python -m grpc_tools.protoc`), as a user's script would.

Usage: grpc_client.py <scenario> <address> <api_key> <model> <stubs_dir>

Prints one JSON line (flushed). Scenarios:
  chat    ProcessRequest(chat)                     -> {request_id, header_request_id, content, model, finish_reason, usage}
  stream  StreamChat, every chunk                  -> {text, chunks, finish_reason, output_tokens} or, when the
                                                      stream ends with a status, {text, chunks, code, details, trailers}
  error   ProcessRequest with a bad role, and one without a key -> {code, details, param, unauthenticated}
"""

import json
import sys

import grpc

scenario, address, api_key, model, stubs = sys.argv[1:6]
sys.path.insert(0, stubs)

from switchyard.v1 import switchyard_pb2 as pb  # noqa: E402
from switchyard.v1 import switchyard_pb2_grpc as pb_grpc  # noqa: E402


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def text_metadata(md):
    """Metadata as a dict, binary (`-bin`) entries left out."""
    return {k: v for k, v in (md or ()) if not k.endswith("-bin")}


channel = grpc.insecure_channel(address)
stub = pb_grpc.SwitchyardStub(channel)
auth = [("authorization", f"Bearer {api_key}")]


def chat_request(content, role="user"):
    return pb.ChatRequest(model=model, messages=[pb.ChatMessage(role=role, content=content)])


if scenario == "chat":
    answer, call = stub.ProcessRequest.with_call(
        pb.ProcessRequestRequest(chat=chat_request("Hello from Python")), metadata=auth, timeout=30
    )
    emit(
        request_id=answer.request_id,
        header_request_id=text_metadata(call.initial_metadata()).get("x-switchyard-request-id"),
        content=answer.chat.content,
        model=answer.model,
        finish_reason=answer.chat.finish_reason,
        usage={"input_tokens": answer.usage.input_tokens, "output_tokens": answer.usage.output_tokens},
    )
elif scenario == "stream":
    deltas = []
    last = None
    try:
        for chunk in stub.StreamChat(chat_request("Stream to Python"), metadata=auth, timeout=30):
            if chunk.delta:
                deltas.append(chunk.delta)
            last = chunk
        emit(
            text="".join(deltas),
            chunks=len(deltas),
            finish_reason=last.finish_reason,
            output_tokens=last.usage.output_tokens,
        )
    except grpc.RpcError as e:
        emit(
            text="".join(deltas),
            chunks=len(deltas),
            code=e.code().name,
            details=e.details(),
            trailers=text_metadata(e.trailing_metadata()),
        )
elif scenario == "error":
    out = {}
    try:
        stub.ProcessRequest(pb.ProcessRequestRequest(chat=chat_request("hi", role="wizard")), metadata=auth, timeout=30)
    except grpc.RpcError as e:
        out.update(code=e.code().name, details=e.details(), param=text_metadata(e.trailing_metadata()).get("switchyard-error-param"))
    try:
        stub.GetRequest(pb.GetRequestRequest(id="x"), timeout=30)
    except grpc.RpcError as e:
        out.update(unauthenticated=e.code().name)
    emit(**out)
else:
    raise SystemExit(f"unknown scenario {scenario}")
