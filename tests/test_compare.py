"""``genplug compare``: rows, a table sorted by FD, JSON and a picture; a failing model keeps its row."""

from __future__ import annotations

import json

from click.testing import CliRunner

import genplug
from genplug._cli import cli


def test_compare_scores_models_side_by_side_and_reports_failures(tmp_path):
    good = genplug.create("toy-gaussian", data_shape=(2,))
    rows = genplug.compare([good, "no-such-model"], "8gaussians", 200, metrics=["energy"])
    assert [r["model"] for r in rows] == ["toy-gaussian", "no-such-model"]
    assert rows[0]["energy_ratio"] > 0 and rows[0]["samples_per_second"] > 0 and rows[0]["parameters"] == 9
    assert "cannot resolve 'no-such-model'" in rows[1]["error"]


def test_the_command_writes_the_table_json_and_picture(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["compare", "vae", "nope", "-n", "100", "--metric", "fd", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = (out / "compare.md").read_text()
    assert table.splitlines()[0].startswith("| model | sampler | FD | FD / floor")
    assert "| vae | default |" in table and "| nope | failed:" in table
    rows = json.loads((out / "compare.json").read_text())
    assert rows[0]["model"] == "vae" and rows[0]["fd_ratio"] > 1
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_training_column_reads_one_or_two_stages(tmp_path):
    from genplug._compare import _training

    def record(**fields):
        (tmp_path / "training.json").write_text(json.dumps(fields))
        return _training(tmp_path)

    assert record(steps=500, seconds=12.4) == "500 steps, 12 s"
    assert record(train_config={"steps": 500}, seconds=12.4, cpu_seconds=7.6) == "500 steps, 8 CPU s"
    assert record(steps=1000, stage1_steps=3000, cpu_seconds=920.0) == "3000 + 1000 steps, 920 CPU s"
    assert record(steps=2500, stage1_steps=6000, cpu_seconds=713.1, stage1_cpu_seconds=732) == (
        "6000 + 2500 steps, 1445 CPU s"
    )
    (tmp_path / "training.json").unlink()
    assert _training(tmp_path) is None
