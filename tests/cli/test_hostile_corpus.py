"""Every case of tests/data/hostile/manifest.yaml: a clear message, no traceback, bounded time and memory."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.nlu.mode import NLU_ENV

DATA = Path(__file__).resolve().parent.parent / "data"
CORPUS = DATA / "hostile"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))
MEMORY_LIMIT = 300 * 1024 * 1024
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{case}", str(CORPUS)).replace("{data}", str(DATA)).replace("{tmp}", str(tmp))


def _make(spec: dict[str, Any], tmp: Path) -> None:
    if "fifo" in spec:
        os.mkfifo(tmp / spec["fifo"])
    if "file" in spec:
        file = spec["file"]
        (tmp / file["name"]).write_text(file["text"] * file.get("repeat", 1), encoding="utf-8")
    if "template" in spec:
        schema = (DATA / "minimal_schema.yaml").read_text(encoding="utf-8")
        expr = json.dumps(spec["template"]["expr"])
        hostile = schema.replace("content: Thank them.", f"content: {expr}")
        (tmp / spec["template"]["name"]).write_text(hostile)
    if "record" in spec:
        _make_record(spec["record"], tmp)


def _make_record(spec: dict[str, Any], tmp: Path) -> None:
    patient = json.loads((DATA / "minimal_patient.json").read_text(encoding="utf-8"))
    for key, value in spec.get("data", {}).items():
        patient["data"][key] = value["repeat"] * value["times"] if isinstance(value, dict) else value
    patient["data"].update({f"unknown_{n}": n for n in range(spec.get("unknown_keys", 0))})
    (tmp / spec["name"]).write_text(json.dumps(patient), encoding="utf-8")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_case(case: dict[str, Any], tmp: Path) -> tuple[int, str, float, float, int]:
    """Exit code, output, wall seconds, CPU seconds and peak resident kilobytes of one case."""
    _make(case.get("make", {}), tmp)
    args = [_fill(str(arg), tmp) for arg in case["args"]]
    # Keyword NLU: the bound is what hostile input costs; the embedding model's fixed memory is the
    # NLU bench's figure (docs/understanding.md).
    env = {**os.environ, "VOICE_CONSOLE_DATA_DIR": str(tmp / "default-history"), NLU_ENV: "keywords"}
    with (tmp / "output").open("w+b") as output:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "cli.main", *args], stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=output, env=env, preexec_fn=_limit_memory)
        status, usage = _reap(process, timeout=case.get("seconds", 2) * 5)
        seconds = time.perf_counter() - started
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    cpu_seconds = usage.ru_utime + usage.ru_stime
    return os.waitstatus_to_exitcode(status), text, seconds, cpu_seconds, usage.ru_maxrss


def _reap(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, resource.struct_rusage]:
    """Wait for the process with wait4 (for its own peak memory); kill it past `timeout`."""
    reaped: list[tuple[int, int, resource.struct_rusage]] = []
    waiter = threading.Thread(target=lambda: reaped.append(os.wait4(process.pid, 0)))
    waiter.start()
    waiter.join(timeout)
    if waiter.is_alive():
        process.kill()
        waiter.join()
    process.returncode = os.waitstatus_to_exitcode(reaped[0][1])  # reaped here, not by Popen
    return reaped[0][1], reaped[0][2]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_hostile_input_gets_a_clear_message_in_bounded_time_and_memory(case: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    code, output, seconds, cpu_seconds, peak_kb = run_case(case, tmp_path)
    assert "Traceback" not in output, output
    assert not RAW_CONTROL.search(output), "a raw control character reached the terminal"
    assert _fill(case["message"], tmp_path) in output, output
    assert code == case["exit"], output
    # CPU time, which other work on the machine does not stretch; a process that blocks instead
    # (a FIFO read) is killed at five times the limit, and its wall time shows it
    assert cpu_seconds < case.get("seconds", 2)
    assert seconds < case.get("seconds", 2) * 5
    # Memory is bounded by RLIMIT_AS (address space, which is at least the resident size). The
    # child's ru_maxrss cannot show it: Linux counts the pytest parent's resident size at the fork.
    assert peak_kb > 0
