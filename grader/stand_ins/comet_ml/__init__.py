"""A stand-in for ``comet_ml``, the experiment tracker the course's 2024 and later notebooks
log to, while a notebook is graded.

The course's notebooks (2024 on) run ``!pip install comet_ml``, ``comet_ml.init(...)``,
``comet_ml.Experiment(api_key=COMET_API_KEY, ...)`` and log metrics and figures in their
training cells. A grading run has no network and no key, and what a student logs to their
account is not ours to send: this stand-in accepts every call, logs nothing and returns
nothing, so the training cells around the logging run as written. Unlike the
``mitdeeplearning`` stand-in it is used even where the real package is installed
(``grader.child.profile.use_stand_ins``), and the feedback says that tracking was off.
"""

from __future__ import annotations

from typing import Any

__version__ = "0+grader.stand-in"


def _note() -> None:
    try:
        from grader.child import profile
    except ImportError:  # outside a grading run
        return
    profile.record("stand-in-comet_ml", "experiment tracking (comet_ml) was off while grading: "
                                        "nothing was logged")


class _Anything:
    """Any attribute is a method that accepts anything and does nothing."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def ignored(*args: Any, **kwargs: Any) -> None:
            return None

        return ignored

    def __enter__(self) -> _Anything:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __bool__(self) -> bool:
        return True


class Experiment(_Anything):
    """``comet_ml.Experiment(api_key=..., project_name=...)``: logs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _note()
        self.project_name = kwargs.get("project_name")
        self.alive = True

    def end(self) -> None:
        self.alive = False

    def get_key(self) -> str:
        return "grader-stand-in"

    def get_name(self) -> str:
        return "grader-stand-in"


OfflineExperiment = ExistingExperiment = APIExperiment = Experiment


def init(*args: Any, **kwargs: Any) -> None:
    """``comet_ml.init(project_name=...)``: nothing to configure."""
    _note()


def login(*args: Any, **kwargs: Any) -> None:
    """``comet_ml.login(api_key=...)``: nothing to log in to."""
    _note()


def start(*args: Any, **kwargs: Any) -> Experiment:
    """``comet_ml.start(...)`` (newer releases): an experiment that logs nothing."""
    return Experiment(*args, **kwargs)


def get_global_experiment() -> None:
    return None


def __getattr__(name: str) -> Any:
    """Whatever else a notebook reaches (``comet_ml.API``, ``comet_ml.integration``...)."""
    if name.startswith("__"):
        raise AttributeError(name)
    _note()
    return _Anything()
