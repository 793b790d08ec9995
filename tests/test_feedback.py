"""Per-submission feedback (feedback.html, feedback.md): content, pictures, fallbacks, browser.

One small batch of convolve-by-hand is graded (the reference, the untouched notebook, a
syntax error, and x_feature_maps dividing by 8 instead of 9); feedback is written from
each result with its observations and the plan's reference records, as grading does.
The HTML is checked with html.parser (structure, every image a valid PNG data URI) and,
when Debian's chromium is installed, rendered by it: the page loads and its images decode.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
import warnings
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from grader.observations import Observations
from grader.plan import Plan
from grader.report import feedback, figures
from grader.report.feedback import Confusion, FeedbackContext, build, confusion_matrices, write_feedback
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult
from tests.conftest import EXAMPLES, REPO, grade_all, make_variant

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAPS = "x_feature_maps on the lecture's X"


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    folder = tmp_path_factory.mktemp("subs")
    variant = make_variant(folder, "maps-over-8", {
        "conv2d(image, X_FILTERS[:, :, f]) / 9.0": "conv2d(image, X_FILTERS[:, :, f]) / 8.0"})
    paths = [EXAMPLES / "reference.ipynb", EXAMPLES / "untouched.ipynb",
             EXAMPLES / "syntax-error.ipynb", variant]
    out = tmp_path_factory.mktemp("out")
    results = grade_all(assignment, paths, out)
    for result in results.values():
        folder, observations, reference = stored(out, result)
        write_feedback(result, folder, assignment, observations, reference)
    return results, out


def stored(out: Path, result: SubmissionResult):
    folder = out / "submissions" / result.submission
    observations = Observations.load(folder)
    return folder, observations, Plan.load(out / ".plan" / observations.plan_id).reference


class Page(HTMLParser):
    """Tags, images and text of a page; fails on unbalanced structural tags."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.stack == [], f"unclosed tags: {page.stack}"
    return page


def png_of(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix):], validate=True)
    png_pixels(data)
    return data


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of a PNG, checking every chunk's CRC (no imaging library)."""
    assert data.startswith(PNG_SIGNATURE)
    position, chunks = len(PNG_SIGNATURE), []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    return width, height, raw


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


needs_matplotlib = pytest.mark.skipif(not has_matplotlib(),
                                      reason="pictures need matplotlib; without it they are text")


def test_files_beside_results_json(graded):
    results, out = graded
    for name in results:
        folder = out / "submissions" / name
        assert {"results.json", "feedback.html", "feedback.md"} <= {p.name for p in folder.iterdir()}


def test_html_structure_and_images(graded):
    results, out = graded
    for name in results:
        page = parse(out / "submissions" / name / "feedback.html")
        assert page.tags[:1] == ["html"] and "table" in page.tags
        for image in page.images:
            width, height, _ = png_pixels(png_of(image["src"]))
            assert width > 100 and height > 100 and image.get("alt")


def test_scores_and_failing_messages(graded):
    results, out = graded
    text = "".join(parse(out / "submissions" / "maps-over-8" / "feedback.html").text)
    result = results["maps-over-8"]
    assert f"{result.score:.4g} / 20 points" in text
    for question in result.questions:
        assert question.title in text
    failing = [c for c in result.checks if not c.passed]
    assert failing and all(c.check.question == "x_feature_maps" for c in failing)
    for check in failing:
        assert check.check.name in text and check.message in text
    markdown = (out / "submissions" / "maps-over-8" / "feedback.md").read_text()
    assert "| X feature maps | 0 / 2 | 0 of 4 |" in markdown
    assert failing[0].message.splitlines()[0] in markdown


def test_notes_on_cell_errors(graded):
    results, out = graded
    note = next(n for n in results["syntax-error"].notes if "syntax error" in n)
    assert note.startswith("Code cell 12 has a syntax error")
    labelled = "The cell starting `def relu(x):` has a syntax error"  # as Jupyter shows no numbers
    html_text = "".join(parse(out / "submissions" / "syntax-error" / "feedback.html").text)
    markdown = (out / "submissions" / "syntax-error" / "feedback.md").read_text()
    for text in (html_text, markdown):
        assert labelled in text and "Code cell 12" not in text


@needs_matplotlib
def test_feature_maps_beside_expected_for_the_public_input(assignment, graded):
    results, out = graded
    result = results["maps-over-8"]
    _, observations, reference = stored(out, result)
    answer = FeedbackContext(assignment, result, observations, reference).call(
        "x_feature_maps", _checks().X_CLEAN)
    mine, expected = answer.student_array(), answer.expected_array()
    assert expected.shape == (7, 7, 3)
    np.testing.assert_allclose(mine, expected * 9 / 8)
    built = build(result, assignment, observations, reference)
    maps = next(p for p in built.pictures if p.title == MAPS)
    assert maps.png and maps.png.startswith(PNG_SIGNATURE)
    assert "yours:" in maps.text and "expected:" in maps.text and "anti-diagonal" in maps.text
    page = parse(out / "submissions" / "maps-over-8" / "feedback.html")
    assert MAPS in [image["alt"] for image in page.images]


def test_untouched_shows_why_there_are_no_maps(assignment, graded):
    results, out = graded
    _, observations, reference = stored(out, results["untouched"])
    built = build(results["untouched"], assignment, observations, reference)
    maps = next(p for p in built.pictures if p.title == MAPS)
    assert "x_feature_maps is not implemented yet" in maps.text
    assert (maps.png is not None) == has_matplotlib()  # the expected maps are still drawn


def test_without_matplotlib_pictures_become_text(assignment, graded, monkeypatch, tmp_path):
    results, out = graded

    def no_matplotlib(draw):
        raise ImportError("No module named 'matplotlib'")

    monkeypatch.setattr(figures, "png", no_matplotlib)
    monkeypatch.setattr(figures, "_DRAWN", {})  # nothing drawn earlier in this process
    _, observations, reference = stored(out, results["maps-over-8"])
    written = write_feedback(results["maps-over-8"], tmp_path, assignment, observations, reference)
    assert [p.name for p in written] == ["feedback.html", "feedback.md"]
    page = parse(tmp_path / "feedback.html")
    assert page.images == []
    text = "".join(page.text)
    assert feedback.MATPLOTLIB_MISSING in text and "yours:" in text


def test_a_failing_hook_or_folder_never_fails_grading(assignment, graded, tmp_path):
    results, out = graded
    _, observations, reference = stored(out, results["reference"])
    (tmp_path / "feedback.py").write_text("def figures(context):\n    raise RuntimeError('boom')\n")
    broken = dataclasses.replace(assignment, folder=tmp_path)
    built = build(results["reference"], broken, observations, reference)
    assert built.problems == ["the assignment's feedback.py failed: RuntimeError: boom"]
    written = write_feedback(results["reference"], tmp_path, broken, observations, reference)
    assert len(written) == 2 and "boom" in written[0].read_text()  # in an HTML comment
    missing = tmp_path / "does-not-exist"
    assert write_feedback(results["reference"], missing, assignment, observations, reference) == []


BUILD_CNN_CHECKS = REPO / "assignments" / "build-cnn" / "checks.py"


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    with warnings.catch_warnings():  # its @check marks are unknown to this pytest session
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
        spec.loader.exec_module(module)
    return module


def _checks():
    return _module(REPO / "assignments" / "convolve-by-hand" / "checks.py", "cbh_checks_for_tests")


def cnn_result(message: str) -> SubmissionResult:
    info = CheckInfo(id="checks.py::test_heldout_accuracy[5-of-5]", question="heldout_accuracy",
                     name="cnn_model's accuracy on hidden digits [5-of-5]", points=1.0, public=False)
    return SubmissionResult(
        submission="never-trained", path="never-trained.ipynb", assignment="build-cnn",
        checks=[CheckResult(info, False, message)],
        questions=[QuestionScore("heldout_accuracy", "Trained CNN on hidden digits", 0.0, 1.0)])


@needs_matplotlib
def test_confusion_matrix_from_build_cnn_notes(tmp_path):
    """The matrix build-cnn's checks note (their own confusion_text) becomes a heat map and
    accuracy bars per digit."""
    pytest.importorskip("sklearn")
    checks = _module(BUILD_CNN_CHECKS, "build_cnn_checks_for_tests")
    labels = np.repeat(np.arange(10), 20)
    predicted = np.where(labels == 9, 4, labels)  # every 9 read as a 4
    matrix = checks.confusion(labels, predicted)
    _, report = checks.accuracy_report(labels, predicted, "hidden digits")
    message = f"cnn_model's {report}\n" + checks.confusion_text(matrix)
    result = cnn_result(message)
    (found,) = confusion_matrices(result)
    np.testing.assert_array_equal(found.matrix, matrix)
    assert found.per_class()[9] == 0 and found.per_class()[4] == 1
    assert "hidden digits, accuracy 0.900" in found.title
    written = write_feedback(result, tmp_path)
    page = parse(written[0])
    (image,) = page.images
    png_of(image["src"])
    assert "accuracy per class: 0 1.00" in (tmp_path / "feedback.md").read_text()


def test_odd_matrices_are_text():
    assert Confusion("x", np.zeros((1, 1), dtype=int)).drawable()
    assert confusion_matrices(cnn_result("true\\pred 0 1\n 0 5\n")) == []  # cut short: no matrix


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--hide-scrollbars"]


@needs_matplotlib
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_renders_in_headless_chromium(graded, tmp_path):
    """Debian's chromium renders the page (a non-blank screenshot) and decodes every image."""
    _, out = graded
    page = out / "submissions" / "maps-over-8" / "feedback.html"
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, "--window-size=1100,1600", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    width, height, raw = png_pixels(shot.read_bytes())
    assert (width, height) == (1100, 1600) and len(set(raw)) > 50  # not a blank page
    probe = tmp_path / "probe.html"  # the page plus a script reporting each image's decoded size
    script = ("<script>window.addEventListener('load', () => { document.body.setAttribute("
              "'data-images', JSON.stringify([...document.images].map(i => [i.complete, "
              "i.naturalWidth, i.naturalHeight]))); });</script>")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"))
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    reported = re.search(r'data-images="([^"]*)"', dom)
    assert reported, "the page's load event never fired"
    images = json.loads(html.unescape(reported.group(1)))
    assert len(images) == len(parse(page).images) >= 2
    assert all(complete and width > 100 and height > 100 for complete, width, height in images)


def test_tracebacks_of_cells_that_raised(tmp_path):
    from grader.observations import CellRecord

    observations = Observations(submission="s", cells=[
        CellRecord(index=4, status="error", error={
            "type": "NameError", "message": "name 'model' is not defined",
            "traceback": "  code cell 5, line 1, in <module>: model.compile(optimizer='sgd')"}),
        CellRecord(index=5, status="error", error={
            "type": "NotImplementedError", "message": "", "traceback": "  code cell 6, line 2"}),
    ])
    result = cnn_result("")
    written = write_feedback(result, tmp_path, observations=observations)
    text = "".join(parse(written[0]).text)
    assert "Traceback of Code cell 5" in text and "model.compile(optimizer='sgd')" in text
    assert "Code cell 6" not in text  # the template's NotImplementedError is no news
    assert "NameError: name 'model' is not defined" in written[1].read_text()


def test_odd_student_arrays_are_described_not_dumped():
    from grader.report.feedback import GridRow, ImageGrid, render

    for odd in (np.zeros(5), np.zeros((500, 500)), np.zeros((3, 3), dtype=complex), np.zeros((4, 4, 40))):
        grid = ImageGrid("t", [GridRow("yours", odd), GridRow("expected", np.ones((3, 3)))])
        picture = render(grid)
        assert f"an array of shape {odd.shape}" in picture.text and len(picture.text) < 500


def test_png_attachments_of_the_checks_are_shown(tmp_path, graded):
    """Forward-compatible with results that carry ``attachments`` (name -> PNG bytes)."""
    results, _ = graded
    png = base64.b64decode(parse_first_image(graded))
    result = dataclasses.replace(results["reference"])
    result.attachments = {"chart.png": png, "notes.txt": b"not a picture"}  # type: ignore[attr-defined]
    written = write_feedback(result, tmp_path)
    page = parse(written[0])
    assert [image["alt"] for image in page.images] == ["chart.png"]
    assert png_of(page.images[0]["src"]) == png


def parse_first_image(graded) -> str:
    _, out = graded
    if not has_matplotlib():
        pytest.skip("no picture to attach without matplotlib")
    page = parse(out / "submissions" / "maps-over-8" / "feedback.html")
    return page.images[0]["src"].split(",", 1)[1]


def test_a_figure_drawn_before_is_not_drawn_again(monkeypatch):
    drawn = []
    real_png = feedback.png
    monkeypatch.setattr(figures, "_DRAWN", {})
    monkeypatch.setattr(figures, "png", lambda draw: drawn.append(draw) or real_png(draw))

    def grid(value: float, label: str = "yours") -> feedback.ImageGrid:
        return feedback.ImageGrid("maps", [feedback.GridRow(label, np.full((3, 3), value))])

    first, again = feedback.render(grid(1.0)), feedback.render(grid(1.0))
    other_values, other_label = feedback.render(grid(2.0)), feedback.render(grid(1.0, "expected"))
    assert len(drawn) == 3  # same content once; other numbers or words are drawn anew
    assert first.png == again.png and first.png.startswith(feedback.PNG_SIGNATURE)
    assert other_values.png != first.png and other_label.png != first.png
