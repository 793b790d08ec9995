"""grader report: the class view of a graded run of convolve-by-hand's examples.

The run is read back from disk (results.json and observations.json per submission) as the
command does; the expected figures follow from the examples' known scores
(tests/test_examples.py).
"""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import pytest
from rich.console import Console

from grader.errors import GraderError
from grader.report.classview import (
    REPORT_FILE,
    class_page,
    common_failures,
    histogram,
    load,
    normalise,
    tables,
    write_html,
)
from tests.conftest import EXAMPLES, grade_all
from tests.test_feedback import has_matplotlib


@pytest.fixture(scope="module")
def run(assignment, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    grade_all(assignment, [EXAMPLES], out)
    return out


@pytest.fixture(scope="module")
def report(run):
    return load(run)


def test_reads_every_submission(report):
    assert sorted(s.name for s in report.submissions) == [
        "infinite-loop", "partly-correct", "reference", "syntax-error", "untouched", "uses-scipy"]
    assert report.assignment == "convolve-by-hand" and report.max_score == 20
    stats = report.stats()
    assert stats["max"] == 20 and stats["min"] == 0 and stats["not graded"] == 0


def test_score_distribution(report):
    counts = histogram(report.scores, 20)
    assert [n for _, _, n in counts] == [1, 0, 0, 0, 1, 1, 0, 0, 1, 2]  # 0, 9, 11.8, 17, 19, 20
    assert counts[-1][1] == 20  # full marks fall in the last bin


def test_pass_rate_per_question(report):
    questions = {q.id: q for q in report.questions}
    relu = questions["relu"]  # untouched and syntax-error miss relu; the others pass
    assert (relu.possible, relu.full, relu.zero) == (1, 4, 2)
    assert relu.checks_passed == 12 and relu.checks_run == 18 and relu.pass_rate == pytest.approx(2 / 3)
    assert questions["x_feature_maps"].mean == pytest.approx(8 / 6)


def test_common_failures_group_messages_that_differ_in_numbers(report):
    conv2d = report.failures["conv2d"]
    assert [len(g.submissions) for g in conv2d] == [1, 1, 1]
    mismatch = next(g for g in conv2d if g.submissions == ["partly-correct"] and "difference" in g.pattern)
    # four hidden cases with different shapes and values make one problem
    assert mismatch.pattern == ("conv2d(#x# float64 array, #x# float64 array): first difference at "
                                "[#, #]: expected #, got #; # of # elements differ (max abs error #)")
    assert mismatch.checks == 4
    relu = report.failures["relu"]
    assert {g.example for g in relu} == {
        "relu is not defined (did the cell that defines it run without errors?)",
        "relu is not implemented yet (it raised NotImplementedError)"}


def test_failures_are_counted_per_submission(report):
    untouched = next(s for s in report.submissions if s.name == "untouched")
    twice = [untouched, untouched.__class__(**{**untouched.__dict__, "name": "copy"})]
    groups = common_failures(twice, top=1)
    assert all(len(g[0].submissions) == 2 for g in groups.values())


@pytest.mark.parametrize("message, expected", [
    ("expected the int 3, got 3.0", "expected the int #, got #"),
    ("softmax(4x10 float64 array): got nan at [0, 0] where a finite value was expected (40 "
     "non-finite values; overflow in exp?)",
     "softmax(#x# float64 array): got nan at [#, #] where a finite value was expected (# "
     "non-finite values; overflow in exp?)"),
    ("Conv2D 26x26x32 (relu) -> ... (1,667,465 parameters)", "Conv2D #x#x# (relu) -> ... (#,#,# parameters)"),
    ("value 1e-05 and -2.5E+3 and .5", "value # and # and #"),
    ("", "(no message)"),
    ("first line 12\nsecond line 13", "first line #"),
])
def test_normalise(message, expected):
    assert normalise(message) == expected


def test_slowest_submissions(report):
    slowest = report.slowest(3)
    loop = next(s for s in report.submissions if s.name == "infinite-loop")
    # max_pool2d loops forever: two calls stopped at the 2 s probe limit, the rest skipped
    assert loop.probes_seconds >= 3.9 and loop in slowest[:2]
    assert slowest == sorted(slowest, key=lambda s: -s.seconds)


def test_terminal_tables(report):
    console = Console(width=200, record=True)
    for table in tables(report):
        console.print(table)
    text = console.export_text()
    for heading in ("score range", "questions", "most common failures", "slowest"):
        assert heading in text
    assert "2-D convolution" in text and "infinite-loop" in text


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text += data


def test_html_report_with_plots(report, run):
    path = write_html(report)
    assert path == run / REPORT_FILE
    page = Images()
    page.feed(path.read_text(encoding="utf-8"))
    if not has_matplotlib():
        assert page.sources == [] and "plot left out: matplotlib is not installed" in page.text
        return
    assert len(page.sources) == 2  # score distribution, questions
    for source in page.sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix):], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    assert "Most common failures" in page.text and "X feature maps" in page.text


def test_not_a_run(tmp_path):
    with pytest.raises(GraderError, match="not the output folder"):
        load(tmp_path)
    (tmp_path / "submissions").mkdir()
    with pytest.raises(GraderError, match="no graded submission"):
        load(tmp_path)


def test_per_submission_outputs_go_through_the_reporter_seam(assignment, tmp_path, monkeypatch):
    """results.json, the feedback pages and any registered per-submission reporter are
    written for each scored submission; a student's public-only check gets no feedback."""
    from grader.observations import Observations
    from grader.plan import Plan
    from grader.report import reporters

    monkeypatch.setattr(reporters, "_SUBMISSION_REGISTRY", dict(reporters._SUBMISSION_REGISTRY))
    seen = []

    class Named:
        def write_submission(self, scored: reporters.ScoredSubmission) -> None:
            seen.append(scored.result.submission)
            (scored.folder / "named.txt").write_text(scored.result.submission)

    reporters.register_submission("named", Named)
    (result,) = grade_all(assignment, [EXAMPLES / "reference.ipynb"], tmp_path / "out", jobs=1).values()
    folder = tmp_path / "out" / "submissions" / result.submission
    assert seen == [result.submission]
    assert {"results.json", "feedback.html", "feedback.md", "named.txt"} <= {p.name for p in folder.iterdir()}

    observations = Observations.load(folder)
    reference = Plan.load(tmp_path / "out" / ".plan" / observations.plan_id).reference
    public = tmp_path / "public"
    public.mkdir()
    reporters.report_submission(reporters.ScoredSubmission(result, public, assignment, observations,
                                                           reference, public_only=True))
    assert sorted(p.name for p in public.iterdir()) == ["named.txt", "results.json"]
    assert (public / "results.json").read_bytes() == (folder / "results.json").read_bytes()
    with pytest.raises(GraderError, match="known: attachments, feedback, named, results"):
        reporters.get_submission("nope")


def test_a_question_left_out_of_a_grade_is_blank_in_the_gradebook_not_zero():
    """Another edition's questions, an optional question not attempted: not graded is not 0."""
    import csv
    import io

    from grader.report.formats import gradebook_csv
    from grader.results import QuestionScore, SubmissionResult

    ss_vae = SubmissionResult("a", "a.ipynb", "facial-detection",
                              questions=[QuestionScore("vae_loss", "VAE loss", 3, 3),
                                         QuestionScore("ss_vae_loss", "SS-VAE loss", 0, 3)])
    db_vae = SubmissionResult("b", "b.ipynb", "facial-detection",
                              questions=[QuestionScore("vae_loss", "VAE loss", 1, 3),
                                         QuestionScore("debiasing_loss", "DB-VAE loss", 2, 3)])
    rows = {row["submission"]: row for row in csv.DictReader(io.StringIO(gradebook_csv([ss_vae, db_vae])))}
    assert rows["a"]["ss_vae_loss"] == "0" and rows["a"]["debiasing_loss"] == ""
    assert rows["b"]["debiasing_loss"] == "2" and rows["b"]["ss_vae_loss"] == ""


def test_roster_lists_every_student_with_a_link_and_each_failure_its_students(report, run):
    import re

    page = class_page(report)
    roster = page[page.index("<h2>Roster</h2>"):page.index("</tbody></table>")]
    rows = re.findall(r'<tr><td><a href="submissions/([\w-]+)/feedback.html">\1</a></td>'
                      r'<td class="num" data-sort="([\d.]+)">', roster)
    assert sorted(name for name, _ in rows) == sorted(s.name for s in report.submissions)
    scores = {s.name: s.score for s in report.submissions}
    assert {name: float(score) for name, score in rows} == scores
    assert roster.count('<td class="num" data-sort=') == len(rows) * (1 + len(report.questions))
    assert "table.sortable" in page  # the script that sorts a column on a click
    failures = page[page.index("<h2>Most common failures</h2>"):page.index("<h2>Slowest")]
    scipy = failures[failures.index("forbidden API"):]
    assert '<a href="submissions/uses-scipy/feedback.html">uses-scipy</a>' in scipy.split("</tr>")[0]
