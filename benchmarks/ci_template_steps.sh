#!/usr/bin/env bash
# Runs the steps of the workflow `grader ci-template` writes, in a clean virtualenv (no
# packages from the machine's Python), against a fake student repository holding one example.
# Usage: bash benchmarks/ci_template_steps.sh [ASSIGNMENT] [EXAMPLE]   (needs network to PyPI)
set -euo pipefail
assignment=${1:-convolve-by-hand}
example=${2:-partly-correct}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir submission && cp "$repo/assignments/$assignment/examples/$example.ipynb" \
    "submission/$(basename "$(python3 -c "import tomllib,sys;print(tomllib.load(open('$repo/assignments/$assignment/assignment.toml','rb'))['assignment'].get('notebook','$assignment.ipynb'))")")"
git clone -q "$repo" .grader                        # "Check out the grader"
python3 -m venv venv && . venv/bin/activate         # a runner's clean Python
export GRADER_ASSIGNMENTS="$work/.grader/assignments"
start=$(date +%s)
python -m pip install -q -e ./.grader               # "Install the grader"
echo "install: $(( $(date +%s) - start )) s"
grader ci-template "$assignment" --out workflow.yml --grader-repo org/grader >/dev/null
step=$(python - <<'PY'
import re
text = open("workflow.yml").read()
print(re.search(r"- name: Grade\n(?:.*\n)*?\s+run: \|\n((?:\s{10}.*\n)+)", text).group(1))
PY
)
echo "running the workflow's Grade step:"; echo "$step"
bash -c "$step"                                      # "Grade", exactly as written
python - <<'PY'
import json, glob
for path in glob.glob("grader-results/submissions/*/results.json"):
    print(path, json.load(open(path))["score"])
assert glob.glob("grader-results/submissions/*/feedback.html"), "no feedback page"
PY
