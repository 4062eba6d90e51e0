"""docs/choosing.md, "Choosing a family", is what scripts/make_choosing_page.py makes of the
packaged weights as they are: regenerate it after retraining."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures" / "compare"


def _script():
    spec = importlib.util.spec_from_file_location("make_choosing_page", ROOT / "scripts" / "make_choosing_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _script()


@pytest.fixture
def saved():
    rows = json.loads((FIGURES / "compare.json").read_text())
    families = json.loads((FIGURES / "families.json").read_text())
    return rows, families


def test_the_page_was_made_from_the_packaged_weights_as_they_are(saved):
    reasons = script.stale(saved[1]["models"])
    assert not reasons, "docs/choosing.md is stale; run `python scripts/make_choosing_page.py`: " + "; ".join(reasons)


def test_changed_weights_make_the_page_stale(saved):
    families = copy.deepcopy(saved[1]["models"])
    name = next(iter(families))
    families[name]["weights_sha256"] = "0" * 64
    assert script.stale(families) == [f"{name}: its packaged weights changed since the page was made"]
    del families[name]
    assert script.stale(families) == [f"{name}: ships packaged weights but is not on the page"]


def test_the_page_is_what_the_script_renders_from_the_saved_figures(saved):
    assert (ROOT / "docs" / "choosing.md").read_text() == script.render(*saved), (
        "docs/choosing.md was edited by hand or not regenerated: "
        "run `python scripts/make_choosing_page.py --render-only`"
    )


def test_each_paragraph_cites_the_measured_figures(saved):
    rows, families = copy.deepcopy(saved[0]), saved[1]["models"]
    row = next(r for r in rows if r["model"] in families and "error" not in r)
    row["fd_ratio"], row["samples_per_second"] = 12.3456, 0.5
    page = script.render(rows, saved[1])
    section = page[page.index(f"### `{row['model']}`") :]
    section = section[: section.index("\n### ") if "\n### " in section else len(section)]
    assert "FD / floor 12.35" in section and "0.5 samples/s at batch 64" in section
    assert f"{families[row['model']]['network_calls_per_batch']} network call" in section
    assert script.WHEN[families[row["model"]]["family"]] in section


def test_a_model_that_failed_keeps_its_section_with_the_reason(saved):
    rows = copy.deepcopy(saved[0])
    row = next(r for r in rows if r["model"] in saved[1]["models"])
    rows[rows.index(row)] = {"model": row["model"], "sampler": "default", "error": "weights are broken"}
    assert "could not score it: weights are broken" in script.render(rows, saved[1])


def test_the_evaluation_page_shows_the_command_that_made_the_compare_table():
    evaluation = (ROOT / "docs" / "evaluation.md").read_text()
    assert f"$ {script.command_line()}\n" in evaluation, "docs/evaluation.md: show the command the script runs"
