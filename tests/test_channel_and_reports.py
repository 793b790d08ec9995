"""The child-to-grader channel read under attack, and reports that hold any text (issue 13).

Fast: the event log is written by hand, as a hostile notebook would, and read back with
``grader.execution.events.read_events``; reports are rendered from results holding control
characters and parsed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from grader import wire
from grader.child.job import Probe
from grader.execution import events
from grader.plan.harness import ProbePlan
from grader.report.formats import github_annotations, junit_xml, markdown_summary, printable
from grader.results import CheckInfo, CheckResult, SubmissionResult

PLAN = ProbePlan([Probe(key=f"k{n}", kind="call", name="relu", args=[], kwargs={})
                  for n in range(3)], {})


def _write(tmp_path, lines, payload=b""):
    (tmp_path / "events").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "arrays").write_bytes(payload)
    return tmp_path / "events", tmp_path / "arrays"


def _array_line(key, where, tree):
    return {"event": "probe", "key": key, "status": "ok", "value": tree, "arrays": where}


def _probing(answers):
    """The lines the grader's runner writes: the probes marker, then each probe's start and
    its answer, in the plan's order."""
    lines = [{"event": "probes"}]
    for number, answer in enumerate(answers):
        lines += [{"event": "probe-start", "number": number, "key": answer["key"]}, answer]
    return lines + [{"event": "done"}]


@pytest.mark.parametrize("lines, reason", [
    ([{"event": "probe", "key": "k0", "status": "ok", "value": 1}],
     "an answer written before the probes began"),
    ([{"event": "probes"}, {"event": "probe", "key": "k0", "status": "ok", "value": 1}],
     "the probe running"),
    ([{"event": "probes"}, {"event": "probe-start", "number": 0, "key": "k0"},
      {"event": "probe", "key": "k0", "status": "ok", "value": 1},
      {"event": "probe", "key": "k0", "status": "ok", "value": 2}], "the probe running"),
    ([{"event": "probes"}, {"event": "probe-start", "number": 1, "key": "k0"}], "order"),
    ([{"event": "probes"}, {"event": "probe-start", "number": 1, "key": "k1"},
      {"event": "probe-start", "number": 0, "key": "k0"}], "order"),
    ([{"event": "probes"}, {"event": "probes"}], "a second start of the probes"),
    ([{"event": "probes"}, {"event": "cell", "index": 3, "status": "ok"}], "a cell's line"),
    ([{"event": "tampered", "reason": "threads were running"}], "threads were running"),
])
def test_a_line_out_of_place_voids_the_run(tmp_path, lines, reason):
    attempt = events.read_events("s", *_write(tmp_path, lines + [{"event": "done"}]), PLAN,
                                 "completed")
    assert "tampered with grading" in attempt.observations.problem
    assert reason in attempt.observations.problem
    assert attempt.running is None  # not run again


def test_answers_in_place_are_taken_and_unknown_lines_skipped(tmp_path):
    answers = [{"event": "probe", "key": f"k{n}", "status": "ok", "value": n} for n in (0, 2)]
    lines = ["{garbage", {"event": "made-up"}, {"event": "probes"},
             {"event": "probe-start", "number": 0, "key": "k0"}, answers[0],
             {"event": "forbidden-load", "module": "scipy.signal", "probe": "relu", "kind": "call"},
             {"event": "probe-start", "number": 2, "key": "k2"}, answers[1], {"event": "done"}]
    (tmp_path / "events").write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n"
                                             for x in lines))
    (tmp_path / "arrays").write_bytes(b"")
    attempt = events.read_events("s", tmp_path / "events", tmp_path / "arrays", PLAN, "completed")
    probes = attempt.observations.probes
    assert attempt.observations.problem is None
    assert [probes[k].status for k in ("k0", "k1", "k2")] == ["ok", "not-run", "ok"]
    assert probes["k2"].value == 2
    assert attempt.observations.loaded[0].kind == "call"


def test_arrays_past_the_submission_budget_are_refused(tmp_path, monkeypatch):
    tree, arrays = wire.encode(np.zeros(1000))
    payload = wire.save_arrays(arrays)
    monkeypatch.setattr(events, "MAX_ARRAY_BYTES", 2 * len(payload) + 10)
    lines = _probing([_array_line(key, [0, len(payload)], tree) for key in ("k0", "k1", "k2")])
    attempt = events.read_events("s", *_write(tmp_path, lines, payload), PLAN, "completed")
    probes = attempt.observations.probes
    assert [probes[k].status for k in ("k0", "k1", "k2")] == ["ok", "ok", "error"]
    assert "size limit of all results of one notebook" in probes["k2"].error["message"]


def test_reading_past_the_time_bound_is_a_problem_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_READ_SECONDS", -1.0)
    lines = _probing([{"event": "probe", "key": "k0", "status": "ok", "value": 1}])
    attempt = events.read_events("s", *_write(tmp_path, lines), PLAN, "completed")
    assert "not graded" in attempt.observations.problem
    assert attempt.observations.probes["k0"].status == "not-run"


def test_forged_forbidden_loads_are_validated(tmp_path):
    lines = [{"event": "forbidden-load", "module": "scipy.signal", "cell": 3, "functions": ["f"],
              "binds": ["g", 5]}, {"event": "forbidden-load", "module": 7},
             {"event": "forbidden-load", "module": "scipy.signal", "cell": 3,
              "functions": ["f"], "binds": ["g"]}]
    loaded = events.read_events("s", *_write(tmp_path, lines), PLAN, "completed").observations.loaded
    assert len(loaded) == 1 and loaded[0].charged() == ["f", "g"]


CONTROL = "\x1b[31mred\x00nul\x0bvt\x0cff\x7fdel\x9bcsi\ud800\ufffe"


def _result():
    info = CheckInfo(id="c", name=f"name {CONTROL}", question="q", points=1.0, public=False)
    return SubmissionResult(submission="s", path="s.ipynb", assignment="a",
                            checks=[CheckResult(info, False, f"ValueError: {CONTROL}\nmore")],
                            problem=f"problem {CONTROL}", notes=[CONTROL])


@pytest.mark.parametrize("render", [
    lambda r: junit_xml(r), lambda r: markdown_summary(r, "t"),
    lambda r: "\n".join(github_annotations(r))])
def test_no_report_carries_a_control_character(render):
    text = render([_result()])
    assert not any(ord(ch) < 32 and ch not in "\t\n\r" or 0x7f <= ord(ch) <= 0x9f
                   or 0xd800 <= ord(ch) <= 0xdfff or ch == "\ufffe" for ch in text)
    assert "\\x1b" in text


def test_junit_with_control_characters_is_valid_xml(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml([_result()]), encoding="utf-8")
    assert ET.parse(path).getroot().tag == "testsuites"


def test_printable_keeps_ordinary_text():
    assert printable("tab\tnew\nline é ✓") == "tab\tnew\nline é ✓"
