"""The calibration's choices (assistant/eval/calibration.py, run by scripts/calibrate.py): the
threshold under the false-abstention cap, the margin under the length budget, on small hand-made
curves and groups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def calibrate():
    from assistant.eval import calibration

    return calibration


def test_the_script_is_the_command_line_of_the_library():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "calibrate.py"), "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "--check" in done.stdout and "--ablate" in done.stdout


def curves_for(calibrate, accuracy_at, false_abstention_at):
    t = calibrate.THRESHOLDS
    return np.array([accuracy_at(x) for x in t]), np.array([false_abstention_at(x) for x in t])


def test_the_most_accurate_threshold_without_a_cap(calibrate):
    # Accuracy peaks at 0.6; refusing answerable questions grows with the threshold.
    curve = curves_for(calibrate, lambda x: 1 - abs(x - 0.6), lambda x: x)
    t, acc = calibrate.best_threshold([curve], n=1000, tolerance=0.0, max_false_abstention=1.0)
    assert t == pytest.approx(0.6) and acc == pytest.approx(1.0)


def test_the_cap_on_false_abstention_lowers_the_threshold(calibrate):
    curve = curves_for(calibrate, lambda x: 1 - abs(x - 0.6), lambda x: x)
    t, _ = calibrate.best_threshold([curve], n=1000, tolerance=0.0, max_false_abstention=0.3)
    assert t == pytest.approx(0.3)


def test_sets_sharing_a_setting_weigh_the_same(calibrate):
    # One set wants 0.2, the other 0.8: averaged, the curve is flat between, and ties answer more.
    low = curves_for(calibrate, lambda x: 1 - abs(x - 0.2), lambda x: 0.0)
    high = curves_for(calibrate, lambda x: 1 - abs(x - 0.8), lambda x: 0.0)
    t, acc = calibrate.best_threshold([low, high], n=1000, tolerance=0.0, max_false_abstention=1.0)
    assert t == pytest.approx(0.2) and acc == pytest.approx(0.7)


def test_no_threshold_meets_the_cap_answers_the_most(calibrate):
    curve = curves_for(calibrate, lambda x: x, lambda x: 0.5)
    t, _ = calibrate.best_threshold([curve], n=1000, tolerance=0.0, max_false_abstention=0.1)
    assert t == pytest.approx(calibrate.THRESHOLDS[0])


def group(calibrate, hits: dict[float, bool], lengths: dict[float, int]):
    g = calibrate.Group(answerable=True, cands=[object()], labels=[True])
    g.hit, g.length = hits, lengths
    return g


def test_the_margin_brings_gold_in_within_the_length_budget(calibrate):
    margins = calibrate.MARGINS
    # A wider margin finds the gold more often, and answers grow 100 characters a step.
    groups = [group(calibrate, {m: k >= i for k, m in enumerate(margins)},
                    {m: 100 * (k + 1) for k, m in enumerate(margins)}) for i in range(len(margins))]
    assert calibrate.choose_margin([groups], budget=10_000) == margins[-1]
    assert calibrate.choose_margin([groups], budget=300) == margins[2]
    assert calibrate.choose_margin([groups], budget=50) == margins[0]  # nothing fits: the narrowest


def test_equal_hit_rates_keep_the_narrower_margin(calibrate):
    margins = calibrate.MARGINS
    groups = [group(calibrate, dict.fromkeys(margins, True), dict.fromkeys(margins, 10))]
    assert calibrate.choose_margin([groups], budget=300) == margins[0]


def test_differences_name_the_leaves_that_differ(calibrate):
    shipped = {"params": {"threshold": 0.14, "weights": {"a": 1.0, "b": 2.0}}, "held_out": [0.5, 0.7]}
    computed = {"params": {"threshold": 0.15, "weights": {"a": 1.00001, "b": 2.0}}, "held_out": [0.5, 0.6]}
    assert calibrate.differences(shipped, computed, 2e-4) == [
        ("held_out[1]", 0.7, 0.6), ("params.threshold", 0.14, 0.15)]
    assert calibrate.differences(shipped, shipped, 2e-4) == []


def test_the_full_fit_and_the_sample_ci_recomputes_were_fitted_for_the_same_inputs(calibrate):
    import json

    from assistant.extractive import CALIBRATION_FILE
    from assistant.reader import adapter_id

    full = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    sample = json.loads((ROOT / "corpus" / "eval" / "calibration_check.json").read_text(encoding="utf-8"))
    for key in calibrate.INPUTS:
        assert full.get(key) == sample.get(key), key
    assert full["reader"] == adapter_id()  # the fit is for the reader in the package
    assert full["params"] != sample["params"]  # the sample is a fit of its own, not a copy
