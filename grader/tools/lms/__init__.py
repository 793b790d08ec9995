"""Canvas and Moodle: submissions in from an LMS download, grades and feedback back out.

An instructor downloads a class's notebooks as one zip whose names follow the platform's own
conventions, and uploads grades as the CSV the platform imports. ``grader.tools.lms.collect``
turns such a zip (or its unzipped folder) into one notebook per student under a folder of
ours, named by the student's id (``grader grade`` does, through ``grader.execution.intake``);
``grader.tools.lms.grades`` writes the import file and the zip of feedback pages Moodle's
"Upload multiple feedback files in a zip" takes (``grader export``, ``grader.tools.export``).
Each module's docstring gives the conventions it follows, as each platform's source writes
and reads them.
"""

from __future__ import annotations

from grader.errors import GraderError


class LmsError(GraderError):
    """An LMS download or export the grader cannot use as asked."""
