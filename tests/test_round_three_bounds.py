"""What reading a child's channel may cost the grader (issue 21), fast: forged event logs and
result files written by hand, as a hostile notebook would write them, read back with
``grader.execution.events.read_events`` and ``grader.wire``, with the bytes allocated
measured by ``tracemalloc`` (numpy reports its arrays to it). The watchdog's step order, the
terminal table, and ``grade`` of a folder without notebooks.

Each bound is asserted on bytes, never on time. The same attacks on real notebooks:
tests/adversarial/test_round_three_dos.py.
"""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from grader import wire
from grader.child.job import Probe
from grader.child.zygote import ProgressWatch, StepOrder
from grader.cli import main
from grader.execution import events
from grader.observations import Observations, ProbeRecord
from grader.plan.harness import ProbePlan
from grader.report.formats import summary_table
from grader.results import CheckInfo, CheckResult, SubmissionResult

PLAN = ProbePlan([Probe(key=f"k{n}", kind="call", name="relu", args=[], kwargs={})
                  for n in range(8)], {})
MiB = 2**20
#: 80 MB of float64 zeros (under the 10M-element limit of one result), deflated to ~80 kB.
BOMB_SHAPE = (10_000_000,)


def bomb() -> bytes:
    """A ``.npz`` whose one member inflates from ~80 kB to 80 MB (never held in memory here)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("a0.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(
            member, {"descr": "<f8", "fortran_order": False, "shape": BOMB_SHAPE})
        chunk = bytes(MiB)
        for _ in range(8 * BOMB_SHAPE[0] // MiB + 1):
            member.write(chunk)
    return buffer.getvalue()


def many_members(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(count):
            archive.writestr(f"a{n}.npy", b"")
    return buffer.getvalue()


def _framed(lines):
    """``lines`` as the grader's runner frames answers (the channel's protocol, see
    ``events._Protocol``): one ``probes`` line, then a ``probe-start`` before each answer."""
    framed, started = [], False
    for line in lines:
        if line.get("event") == "probe":
            if not started:
                framed.append({"event": "probes"})
                started = True
            framed.append({"event": "probe-start", "number": int(line["key"][1:]), "key": line["key"]})
        framed.append(line)
    return framed


def _write(tmp_path, lines, payload=b"", junk=b""):
    text = "".join(json.dumps(line) + "\n" for line in _framed(lines)).encode()
    (tmp_path / "events").write_bytes(junk + text)
    (tmp_path / "arrays").write_bytes(payload)
    return tmp_path / "events", tmp_path / "arrays"


def _answers(keys=("k0", "k1")):
    return [{"event": "probe", "key": key, "status": "ok", "value": 1} for key in keys]


def _peak(work):
    """What ``work()`` returns, and the most memory it held at once (tracemalloc's peak)."""
    tracemalloc.start()
    try:
        value = work()
        return value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- result arrays ----------------------------------------------------------------------------

def test_a_compressed_result_is_refused_before_it_inflates():
    payload = bomb()
    assert len(payload) < MiB
    _, peak = _peak(lambda: pytest.raises(wire.WireFormatError, wire.load_arrays, payload))
    assert peak < 4 * MiB
    with pytest.raises(wire.WireFormatError, match="compressed"):
        wire.load_arrays(payload)


def test_forged_compressed_answers_for_eight_probes_cost_kilobytes(tmp_path):
    payload = bomb()
    lines = [{"event": "probe", "key": f"k{n}", "status": "ok", "value": {"array": "a0"},
              "arrays": [0, len(payload)]} for n in range(8)]
    paths = _write(tmp_path, lines + [{"event": "done"}], payload)
    attempt, peak = _peak(lambda: events.read_events("s", *paths, PLAN, "completed"))
    probes = attempt.observations.probes
    assert {probes[f"k{n}"].status for n in range(8)} == {"error"}
    assert "compressed" in probes["k0"].error["message"]
    assert peak < 8 * MiB  # was 3.38 GB
    document, arrays = attempt.observations.to_bytes()
    assert len(arrays) < 1024  # nothing of it is stored (was 1 GiB on disk)


def test_an_archive_of_many_members_is_refused_from_its_end_record():
    payload = many_members(wire.DEFAULT_LIMITS.max_members + 1)
    with pytest.raises(wire.WireFormatError, match="members is over the limit"):
        wire.load_arrays(payload)


def test_an_end_record_that_lies_about_its_count_is_refused():
    payload = bytearray(many_members(3000))
    payload[-12:-10] = (1).to_bytes(2, "little")  # "1 member" on this disk
    payload[-14:-12] = (1).to_bytes(2, "little")
    limits = wire.SizeLimits(max_members=10)
    with pytest.raises(wire.WireFormatError, match="over the limit"):
        wire.load_arrays(bytes(payload), limits)


def test_members_of_all_results_of_a_notebook_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_ARRAY_MEMBERS", 5)
    tree, arrays = wire.encode([np.zeros(2), np.ones(2), np.zeros(3)])
    payload = wire.save_arrays(arrays)
    lines = [{"event": "probe", "key": f"k{n}", "status": "ok", "value": tree,
              "arrays": [0, len(payload)]} for n in range(3)]
    probes = events.read_events("s", *_write(tmp_path, lines, payload), PLAN,
                                "completed").observations.probes
    assert [probes[f"k{n}"].status for n in range(3)] == ["ok", "error", "error"]
    assert "arrays of all results" in probes["k1"].error["message"]


def test_observations_over_one_results_limit_are_read_back(tmp_path):
    """What the executor accepts (256 MiB in all) is what observations.npz is read with."""
    big = np.ones(9_000_000)  # 72 MB each: two are over 128 MiB together
    observations = Observations("s", probes={
        k: ProbeRecord(k, "ok", big) for k in ("k0", "k1")})
    observations.save(tmp_path)
    again = Observations.load(tmp_path)
    assert again.probes["k1"].value.shape == big.shape


# --- the event log --------------------------------------------------------------------------

def test_junk_lines_are_skipped_unparsed_and_the_answers_kept(tmp_path):
    paths = _write(tmp_path, _answers() + [{"event": "done"}], junk=b"{}\n" * (8 * MiB // 3))
    attempt, peak = _peak(lambda: events.read_events("s", *paths, PLAN, "completed"))
    assert attempt.observations.probes["k0"].value == 1
    assert attempt.observations.problem is None
    assert peak < 2 * MiB  # was 2.93 GB for 64 MiB: junk is never a list of dicts


def test_a_log_past_its_byte_bound_says_so_on_what_it_lost(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_EVENTS_BYTES", MiB)
    junk = b"{}\n" * (2 * MiB // 3)
    attempt = events.read_events("s", *_write(tmp_path, _answers(), junk=junk), PLAN, "completed")
    lost = attempt.observations.probes["k0"]
    assert lost.status == "not-run"
    assert "wrote more than 1 MiB to the grader's channel" in lost.error["message"]


def test_event_lines_past_their_count_bound_are_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_EVENT_LINES", 1000)
    flood = [{"event": "x"}] * 1000
    attempt = events.read_events(
        "s", *_write(tmp_path, _answers(["k0"]) + flood + _answers(["k1"])), PLAN, "completed")
    probes = attempt.observations.probes
    assert probes["k0"].value == 1 and probes["k1"].status == "not-run"
    assert "more than 1,000 lines" in probes["k1"].error["message"]


def test_a_line_of_a_5000_digit_integer_is_malformed_not_a_grader_error(tmp_path):
    junk = b'{"event": "probe", "key": "k0", "status": "ok", "value": ' + b"9" * 5000 + b"}\n"
    attempt = events.read_events("s", *_write(tmp_path, _answers() + [{"event": "done"}],
                                              junk=junk), PLAN, "completed")
    assert attempt.observations.probes["k0"].value == 1  # the forged line was skipped


def test_durations_without_a_float_are_zero(tmp_path):
    lines = [{"event": "cell", "index": 0, "status": "ok", "seconds": 10**400},
             {"event": "probe", "key": "k0", "status": "ok", "value": 1, "seconds": 10**400}]
    observations = events.read_events("s", *_write(tmp_path, lines), PLAN, "completed").observations
    assert observations.cells[0].seconds == 0.0 and observations.probes["k0"].seconds == 0.0


def test_an_answer_on_a_line_over_its_bound_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_LINE_BYTES", 1000)
    lines = [{"event": "probe", "key": "k0", "status": "ok", "value": "x" * 2000}] + _answers(["k1"])
    probes = events.read_events("s", *_write(tmp_path, lines), PLAN, "completed").observations.probes
    assert probes["k0"].status == "error" and "size limit" in probes["k0"].error["message"]
    assert probes["k1"].value == 1


# --- the watchdog ---------------------------------------------------------------------------

def test_forged_ends_restart_the_deadline_once_and_never_clear_it(tmp_path):
    steps = StepOrder([0, 1, 2], [0, 1])
    assert steps.start(("cell", 0))
    assert [steps.end("cell", 0) for _ in range(3)] == [True, False, False]
    assert not steps.end("probe", None)  # a probe's end while a cell runs
    path = tmp_path / "events"
    path.write_text('{"event": "cell-start", "index": 0}\n'
                    + '{"event": "cell", "index": 0, "status": "ok"}\n' * 50)
    descriptor = os.open(path, os.O_RDONLY)
    watch = ProgressWatch(descriptor, 7.0, StepOrder([0, 1, 2], [0, 1]))
    watch.scan()
    os.close(descriptor)
    assert watch.deadline is not None and watch.steps.blamed == ("cell", 0)


@pytest.mark.parametrize(("line", "accepted"), [
    ('{"event": "cell-start", "index": 0}', False),   # again
    ('{"event": "cell-start", "index": 7}', False),   # not planned
    ('{"event": "probe-start", "number": 9}', False),  # not planned
    ('{"event": "cell", "index": 1, "x": 0}', False),  # not the current cell
    ('{"event": "cell-start", "index": 2}', True),    # forward, skipping 1: its own loss
    ('{"event": "probes"}', True),
    ('{"event": "done"}', True),
])
def test_only_lines_that_move_forward_count(tmp_path, line, accepted):
    steps = StepOrder([0, 1, 2], [0, 1])
    assert steps.start(("cell", 0))
    path = tmp_path / "events"
    path.write_text(line + "\n")
    descriptor = os.open(path, os.O_RDONLY)
    watch = ProgressWatch(descriptor, 7.0, steps)
    watch.scan()
    os.close(descriptor)
    assert (watch.deadline is not None) == accepted
    assert steps.blamed == (("cell", 2) if "index\": 2" in line else ("cell", 0))


def test_each_step_counts_once_in_order():
    steps = StepOrder([0, 3], [0, 1])
    order = [("cell", 0), ("cell", 0), ("cell", 3), ("probes", 0), ("cell", 3), ("probe", 1),
             ("probe", 0), ("done", 0), ("probe", 1)]
    assert [steps.start(step) for step in order] == [True, False, True, True, False, True,
                                                    False, True, False]
    assert steps.blamed == ("probe", 1)
    assert steps.to_data() == {"cells": [0, 3], "probes": [0, 1]}


# --- the terminal table and the command line --------------------------------------------------

def test_rich_markup_in_a_students_message_is_shown_as_written():
    check = CheckInfo("relu", "relu works", "relu", 1.0, True)
    result = SubmissionResult("[bold]s[/]", "s.ipynb", "a", checks=[CheckResult(check, False, "x")],
                              notes=["[/] ValueError: [red]boom"])
    console = Console(file=io.StringIO(), width=200)
    console.print(summary_table([result], "[/]title"))
    text = console.file.getvalue()
    assert "[/] ValueError: [red]boom" in text and "[bold]s[/]" in text and "[/]title" in text


def test_grading_a_folder_without_notebooks_fails(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["grade", "convolve-by-hand", str(tmp_path / "empty"),
                                       "--out", str(tmp_path / "out"), "--fail-under", "10", "-q"])
    assert result.exit_code == 1
    assert "no notebook (*.ipynb) found in" in result.output
    assert not (tmp_path / "out" / "gradebook.csv").exists()
