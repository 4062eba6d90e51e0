"""`genplug plot`: training curves from runs' metrics.jsonl, with matplotlib as an optional extra."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import genplug
from genplug._cli import cli
from genplug._plot import plot_curves, read_metrics


def write_run(folder, lines):
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.fixture
def runs(tmp_path):
    a = write_run(tmp_path / "a", [{"step": s, "loss": 10 / s, "kl": 0.1 * s, "beta": 1.0} for s in (10, 20, 30)])
    b = write_run(tmp_path / "b", [{"step": s, "loss": 12 / s, "note": "text"} for s in (10, 20)])
    return a, b


def test_read_metrics_keeps_the_numbers_by_figure(runs):
    curves = read_metrics(runs[1])
    assert curves == {"loss": [(10, 1.2), (20, 0.6)]}  # the text figure is left out


def test_plot_draws_one_panel_per_figure_and_one_line_per_run(runs, tmp_path):
    pytest.importorskip("matplotlib")
    out = plot_curves(runs, tmp_path / "curves.png")
    from PIL import Image

    with Image.open(out) as img:
        three_panels = img.size
    plot_curves(runs, tmp_path / "loss.png", figures=["loss"])
    with Image.open(tmp_path / "loss.png") as img:
        one_panel = img.size
    assert three_panels[0] > 2 * one_panel[0]  # loss, kl, beta side by side
    svg = plot_curves(runs, tmp_path / "curves.svg", figures=["loss"]).read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    assert plot_curves(runs[:1], tmp_path / "log.pdf", log_y=True).read_bytes().startswith(b"%PDF")


def test_the_cli_plots_runs_trained_by_genplug_train(tmp_path):
    pytest.importorskip("matplotlib")
    model = genplug.create("vae", data_shape=(2,), latent_dim=2)
    genplug.train(model, "moons", genplug.TrainConfig(steps=6, log_every=2), out=tmp_path / "run", progress=False)
    result = CliRunner().invoke(cli, ["plot", str(tmp_path / "run"), "-o", str(tmp_path / "curves.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_bad_runs_and_figures_get_one_line(runs, tmp_path):
    def bad(*args):
        result = CliRunner().invoke(cli, ["plot", *args])
        assert result.exit_code != 0 and "Traceback" not in result.output
        return result.output

    out = str(tmp_path / "c.png")
    assert "has no metrics.jsonl" in bad(str(tmp_path), "-o", out)
    assert "neither a run folder nor a metrics.jsonl" in bad(str(tmp_path / "missing"), "-o", out)
    assert "use .png or .svg or .pdf" in bad(str(runs[0]), "-o", str(tmp_path / "c.gif"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.jsonl").write_text('{"step": 1, "loss": 2}\n{"step": 2, "lo\n')
    assert "line 2: not JSON" in bad(str(tmp_path / "broken"), "-o", out)
    pytest.importorskip("matplotlib")
    assert "no run logged 'acc'; they logged: loss, kl, beta" in bad(*map(str, runs), "-f", "acc", "-o", out)


def test_without_matplotlib_the_error_names_the_extra(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` sees when it is absent
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = CliRunner().invoke(cli, ["plot", str(runs[0]), "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: plotting needs matplotlib: pip install 'genplug[plot]'"
    assert not (tmp_path / "c.png").exists()


def test_genplug_help_does_not_import_matplotlib():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom genplug._cli import cli\n"
        "assert CliRunner().invoke(cli, ['plot', '--help']).exit_code == 0\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
