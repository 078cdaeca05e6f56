"""The committed protobuf code matches protos/ (regenerate: python scripts/gen_protos.py)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Each line marked `# error: CODE` must be exactly that mypy error; the rest of the snippet must
# pass, so the stubs are neither missing (everything Any) nor wrong.
TYPED_SNIPPET = """\
import grpc

from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc


async def use(channel: grpc.aio.Channel) -> int:
    stub = pb_grpc.ConfigServiceStub(channel)
    reply = await stub.Get(pb.GetRequest(namespace="x", key="k"))
    pb.GetRequest(namspace="x")  # error: call-arg
    await stub.Get(pb.PutRequest(namespace="x"))  # error: arg-type
    stub.Gett  # error: attr-defined
    reply.revison  # error: attr-defined
    return reply.revision
"""


def test_mypy_rejects_misspelt_fields_and_wrong_messages(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(TYPED_SNIPPET)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            # The project's settings: strict, and the SDK found by path (clients/python).
            "--config-file=pyproject.toml",
            "--no-error-summary",
            f"--cache-dir={tmp_path / 'cache'}",
            str(snippet),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    expected = {
        (number, line.rpartition("# error: ")[2])
        for number, line in enumerate(TYPED_SNIPPET.splitlines(), start=1)
        if "# error: " in line
    }
    flagged = {
        (int(line.split(":")[1]), line.rpartition("[")[2].rstrip("]"))
        for line in result.stdout.splitlines()
        if line.startswith(f"{snippet}:") and ": error:" in line
    }
    assert flagged == expected, result.stdout + result.stderr
