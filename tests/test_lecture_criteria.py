"""Every lecture's criteria, judged on metrics recorded from full runs (tests/data/lecture_metrics,
seed 0: see BENCHMARKS.md), met and not met; the bands they use; the summary that ends ``edf
lecture``, and its exit status."""
import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from edf import cli, report

RECORDED = Path(__file__).resolve().parent / "data" / "lecture_metrics"
LECTURES = cli.lecture_names()


def recorded(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.json").read_text())


def with_value(metrics: dict, key: str, value) -> dict:
    """A copy of ``metrics`` with the value at the dotted ``key`` replaced."""
    changed = json.loads(json.dumps(metrics))
    *path, last = key.split(".")
    inner = changed
    for part in path:
        inner = inner[part]
    inner[last] = value
    return changed


def test_every_lecture_has_recorded_full_run_metrics():
    assert sorted(p.stem for p in RECORDED.glob("*.json")) == LECTURES


@pytest.mark.parametrize("name", LECTURES)
def test_criteria_on_recorded_metrics_are_met(name):
    """The criteria a full run recorded are what the lecture's CRITERIA give on its metrics, and
    every one was met."""
    module = importlib.import_module(f"edf.lectures.{name}")
    metrics = recorded(name)
    assert metrics["quick"] is False
    judged = report.check(module.CRITERIA, metrics)
    assert judged == metrics["criteria"]
    assert [c["name"] for c in judged] == [c.name for c in module.CRITERIA]
    assert all(c["met"] for c in judged), [c for c in judged if not c["met"]]
    assert report.unmet(metrics) == []


@pytest.mark.parametrize("name", LECTURES)
def test_each_criterion_fails_on_a_value_outside_its_band(name):
    """Moved just outside its band, each recorded value makes its criterion (and only it) NOT
    met, and the summary line says so."""
    module = importlib.import_module(f"edf.lectures.{name}")
    metrics = recorded(name)
    for criterion in module.CRITERIA:
        broken = with_value(metrics, criterion.key, criterion.band.outside())
        judged = report.check(module.CRITERIA, broken)
        assert [c["name"] for c in judged if not c["met"]] == [criterion.name]
        broken["criteria"] = judged
        assert [c["name"] for c in report.unmet(broken)] == [criterion.name]
        line = report.summary_line(name, 12.0, broken)
        assert f"1 of {len(judged)} NOT met" in line and f"({criterion.band}) NOT met" in line


def test_bands_hold_inside_and_fail_outside():
    assert report.at_least(0.97).holds(0.97) and not report.at_least(0.97).holds(0.9699)
    assert report.above(0).holds(1e-9) and not report.above(0).holds(0)
    assert report.at_most(0.15).holds(0.15) and not report.at_most(0.15).holds(0.1501)
    assert report.below(0.01).holds(0.0099) and not report.below(0.01).holds(0.01)
    assert report.within(0.3, 0.05).holds(0.25) and report.within(0.3, 0.05).holds(0.35)
    assert not report.within(0.3, 0.05).holds(0.2499) and not report.within(0.3, 0.05).holds(0.3501)
    assert report.exactly(8).holds(8) and not report.exactly(8).holds(7)
    assert not report.at_least(0).holds(math.nan)  # a NaN meets no criterion
    assert [str(b) for b in (report.at_least(0.97), report.above(0), report.at_most(0.15), report.below(0.01),
                             report.within(0.3, 0.05), report.exactly(10))] == \
        [">= 0.97", "> 0", "<= 0.15", "< 0.01", "0.3 +- 0.05", "= 10"]


bands = st.one_of(
    st.builds(report.at_least, st.floats(-1e6, 1e6)), st.builds(report.above, st.floats(-1e6, 1e6)),
    st.builds(report.at_most, st.floats(-1e6, 1e6)), st.builds(report.below, st.floats(-1e6, 1e6)),
    st.builds(report.within, st.floats(-1e6, 1e6), st.floats(0, 1e3)), st.builds(report.exactly, st.integers(-99, 99)))


@given(bands)
def test_a_value_outside_a_band_is_outside(band):
    assert not band.holds(band.outside())


def test_a_criterion_reads_nested_metrics():
    criterion = report.Criterion("twos", "vae.perturbed.twos", report.within(0.3, 0.05))
    metrics = {"vae": {"perturbed": {"twos": 0.31}}, "quick": False}
    assert report.check([criterion], metrics) == [dict(name="twos", value=0.31, band="0.3 +- 0.05", met=True)]


# -- the summary and the exit status --------------------------------------------------------------
def fake_metrics(quick: bool, met: bool) -> dict:
    criteria = [report.Criterion("test accuracy", "accuracy", report.at_least(0.97))]
    metrics = dict(quick=quick, accuracy=0.99 if met else 0.95)
    metrics["criteria"] = report.check(criteria, metrics)
    return metrics


def test_summary_lines():
    assert report.summary_line("backprop", 14.2, fake_metrics(False, True)) == \
        "backprop            14 s  all 1 met: test accuracy 0.99 (>= 0.97) met"
    assert report.summary_line("backprop", 14.2, fake_metrics(False, False)) == \
        "backprop            14 s  1 of 1 NOT met: test accuracy 0.95 (>= 0.97) NOT met"
    assert report.summary_line("backprop", 3, fake_metrics(True, False)) == \
        "backprop             3 s  quick run, not applied: test accuracy 0.95 (>= 0.97)"
    assert "FAILED" in report.summary_line("backprop", 3, None)


@pytest.fixture
def lectures_returning(monkeypatch):
    """Make every lecture's main return the given metrics instead of running."""
    def install(outcomes: dict):
        for name in cli.lecture_names():
            module = importlib.import_module(f"edf.lectures.{name}")
            metrics = outcomes.get(name, fake_metrics(quick=False, met=True))
            monkeypatch.setattr(module, "main", lambda argv, _m=metrics: _m)
    return install


@pytest.mark.parametrize("quick", [False, True])
def test_one_lecture_exits_non_zero_when_a_full_run_misses_a_criterion(lectures_returning, capsys, quick):
    lectures_returning({"cnn": fake_metrics(quick, met=False), "backprop": fake_metrics(quick, met=True)})
    options = ["--quick"] if quick else []
    assert cli.main(["lecture", "backprop", *options]) == 0
    assert cli.main(["lecture", "cnn", *options]) == (0 if quick else cli.NOT_MET)
    out = capsys.readouterr().out
    assert f"== summary ({'quick' if quick else 'full'} mode): 1 lecture in" in out
    assert ("cnn" + " " * 14) in out
    assert ("quick run: criteria shown, none applied" if quick else "NOT met: cnn: test accuracy") in out


def test_lecture_all_sums_up_every_lecture_and_fails_on_a_missed_criterion(lectures_returning, capsys):
    lectures_returning({"perturbation": fake_metrics(False, met=False)})
    assert cli.run_all_lectures(["--jobs", "1"]) == cli.NOT_MET
    out = capsys.readouterr().out
    summary = out[out.index("== summary (full mode): 9 lectures in"):].splitlines()
    assert [line.split()[0] for line in summary[1:10]] == LECTURES  # a line per lecture, in order
    assert "perturbation" in summary[6] and "1 of 1 NOT met" in summary[6]
    assert summary[10] == "NOT met: perturbation: test accuracy"
    lectures_returning({})
    assert cli.run_all_lectures(["--jobs", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "every criterion met (9 in 9 lectures)"


def test_a_broken_criterion_fails_the_command():
    """A real full run that cannot meet its criterion (the backprop lecture's MLP with 2 hidden
    units, one epoch) exits with NOT_MET and says which criterion, beside its value and band."""
    done = subprocess.run([sys.executable, "-m", "edf.course.cli", "lecture", "backprop", "--epochs", "1",
                           "--hidden", "2"], capture_output=True, text=True)
    assert done.returncode == cli.NOT_MET, done.stderr[-2000:]
    assert "(>= 0.97) NOT met" in done.stdout and "NOT met: backprop: test accuracy" in done.stdout
