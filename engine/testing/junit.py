"""JUnit XML for CI: one `testsuite` per schema, one `testcase` per case.

The output is valid against both common JUnit schemas (Jenkins' junit-10.xsd and the
Apache Ant one from windyroad), so it keeps to what both allow: no attributes on
`testsuites`, and `properties`, the cases, `system-out`, `system-err` in that order.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from engine.clock import Clock, local_iso_seconds, system_clock
from engine.testing.runner import CaseResult, ScriptResult


def write_junit(path: Path | str, results: Iterable[ScriptResult], clock: Clock = system_clock) -> None:
    tree = ET.ElementTree(junit_element(results, clock))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def junit_element(results: Iterable[ScriptResult], clock: Clock = system_clock) -> ET.Element:
    root = ET.Element("testsuites")
    by_schema: dict[str, list[ScriptResult]] = {}
    for result in results:
        by_schema.setdefault(result.schema, []).append(result)
    timestamp = local_iso_seconds(clock())
    hostname = socket.gethostname() or "localhost"
    for index, (schema, scripts) in enumerate(by_schema.items()):
        root.append(_suite(index, schema, scripts, timestamp, hostname))
    return root


def _suite(index: int, schema: str, scripts: list[ScriptResult], timestamp: str, hostname: str) -> ET.Element:
    cases = [case for script in scripts for case in script.cases]
    suite = ET.Element("testsuite", {
        "name": schema,
        "package": schema,
        "id": str(index),
        "tests": str(len(cases)),
        "failures": str(sum(1 for c in cases if c.failure is not None)),
        "errors": str(sum(1 for c in cases if c.error)),
        "skipped": "0",
        "time": _seconds(sum(s.ms for s in scripts)),
        "timestamp": timestamp,
        "hostname": hostname,
    })
    properties = ET.SubElement(suite, "properties")
    for script in scripts:
        ET.SubElement(properties, "property", {"name": "script", "value": str(script.path)})
    suite.extend(_case(schema, case) for case in cases)
    ET.SubElement(suite, "system-out")
    ET.SubElement(suite, "system-err")
    return suite


def _case(schema: str, case: CaseResult) -> ET.Element:
    element = ET.Element("testcase", {"name": case.case, "classname": schema, "time": _seconds(case.ms)})
    if case.error or case.failure:
        kind = "error" if case.error else "failure"
        problem = ET.SubElement(element, kind, {"message": case.message, "type": f"schema_test.{kind}"})
        problem.text = case.detail
    return element


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f}"
