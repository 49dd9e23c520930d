"""Switchyard over gRPC from Python: a chat answered whole, the same chat streamed, an error status.

  pip install grpcio==1.85.4 grpcio-tools==1.85.4
  SWITCHYARD_KEY=$(cat .data/bootstrap-api-key) python examples/grpc/chat.py 127.0.0.1:50051

Generates its stubs from proto/switchyard/v1/switchyard.proto (grpcio-tools) into a temporary folder.
"""

import os
import sys
import tempfile

import grpc
import grpc_tools
from grpc_tools import protoc

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
gen = tempfile.mkdtemp(prefix="switchyard-grpc-")
# The well-known protos (google/protobuf/struct.proto) ship with grpcio-tools.
well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{well_known}",
             f"--python_out={gen}", f"--grpc_python_out={gen}", "switchyard/v1/switchyard.proto"])
sys.path.insert(0, gen)
from switchyard.v1 import switchyard_pb2 as pb  # noqa: E402
from switchyard.v1 import switchyard_pb2_grpc as pb_grpc  # noqa: E402

address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
stub = pb_grpc.SwitchyardStub(grpc.insecure_channel(address))
auth = [("authorization", f"Bearer {os.environ['SWITCHYARD_KEY']}")]
hello = pb.ChatRequest(model="auto", messages=[pb.ChatMessage(role="user", content="Hello")])

answer, call = stub.ProcessRequest.with_call(pb.ProcessRequestRequest(chat=hello), metadata=auth, timeout=30)
print("ProcessRequest:", answer.request_id, answer.model, repr(answer.chat.content))
print("  metadata:", {k: v for k, v in call.initial_metadata() if k.startswith("x-switchyard")})
print("  usage:", answer.usage.input_tokens, "in,", answer.usage.output_tokens, "out")

print("StreamChat: ", end="")
for chunk in stub.StreamChat(hello, metadata=auth, timeout=30):
    print(chunk.delta or f" [{chunk.finish_reason}, {chunk.usage.output_tokens} tokens]", end="", flush=True)
print()

try:
    stub.ProcessRequest(pb.ProcessRequestRequest(sentiment=pb.OperationRequest(model="auto")), metadata=auth, timeout=30)
except grpc.RpcError as e:
    trailers = dict(e.trailing_metadata())
    print("error:", e.code().name, e.details(), "| param:", trailers.get("switchyard-error-param"))
