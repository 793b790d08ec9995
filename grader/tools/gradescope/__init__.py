"""The Gradescope autograder bundle (``grader gradescope ASSIGNMENT``, ``build``) and its runtime in
Gradescope's container (``container``).

The bundle is made on the instructor's machine and carries everything scoring needs, so
that Gradescope's container (768 MB and half a CPU by default, Docker, root) only runs the
student's notebook and scores it; the grader's own process there never imports TensorFlow:

- the **plan** for the bundle's seed (hidden inputs, the reference's answers, the files
  each notebook gets under ``$HOME``), made here, once, by running the reference;
- the assignment's spec, checks and the modules they load, in the repository's layout;
- the **data the checks read when scoring**: whatever they cache under
  ``$XDG_CACHE_HOME/grader`` (build-cnn's digits, facial-detection's hidden faces), made
  here by scoring the reference's answers in the plan, and the data files the assignment's environment
  variables name (``GRADER_MNIST=/path/mnist.npz``);
- **not the reference notebook**: a placeholder stands at its path, and the plan is found
  by the fingerprint recorded when the bundle was built.

The zip, as Gradescope unzips it into ``/autograder/source``::

    setup.sh, run_autograder   Gradescope's entry points (run_autograder: python -m grader.tools.gradescope)
    grader/                    the grader's source: pyproject.toml and the package (public code)
    private/                   root-only once setup.sh ran
      bundle.json              assignment, seed, plan id, fingerprint, digest, environment
      spec/                    the assignment folder and the files its spec names
      plans/<id>/              plan.json, plan.npz, home/ (the notebook's provided files)
      cache/grader/            the checks' data (XDG_CACHE_HOME while scoring)
      data/<VARIABLE>/<file>   files named by the assignment's environment variables

``setup.sh`` copies ``grader/`` to ``/autograder/grader`` and installs it into
``/autograder/venv`` (both readable by every user), then ``setup`` makes
``/autograder/source`` root-only and checks the bundle: the reference's answers in the plan must earn
full marks with the shipped checks and data. Where bubblewrap cannot run (Docker's seccomp
profile), the notebook's process runs as uid 65534: it cannot read the bundle nor write
``/autograder/results``, and ``results.json`` is written after it has gone. A bundle whose
plan is missing refuses to grade (its results.json says the autograder is broken); it never
runs a reference.
"""

from grader.tools.gradescope.build import (
    CONTAINER,
    GRADESCOPE_TIMEOUT,
    MANIFEST,
    NOTEBOOK_CAP,
    PRIVATE,
    BrokenBundleError,
    Measured,
    bundle_summary,
    container_advice,
    requirements,
    spec_digest,
    write_gradescope_bundle,
    write_private,
)
from grader.tools.gradescope.container import (
    Bundle,
    ShippedAssignment,
    cpu_share,
    lock,
    main,
    pick_notebook,
    run_autograder,
    scaled_limits,
    setup_root,
    verify_bundle,
)

__all__ = [
    "CONTAINER", "GRADESCOPE_TIMEOUT", "MANIFEST", "NOTEBOOK_CAP", "PRIVATE", "BrokenBundleError",
    "Bundle", "Measured", "ShippedAssignment", "bundle_summary", "container_advice", "cpu_share",
    "lock", "main", "pick_notebook", "requirements", "run_autograder", "scaled_limits",
    "setup_root", "spec_digest", "verify_bundle", "write_gradescope_bundle", "write_private",
]
