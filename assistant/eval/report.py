"""The gold set's gate and report: thresholds from one TOML file, the metrics below them,
report.md, metrics.json and chart.png."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT
from ..errors import ConfigError
from .gold import Result

DEFAULT_THRESHOLDS = PROJECT_ROOT / "corpus" / "eval" / "thresholds.toml"


def load_thresholds(path: Path = DEFAULT_THRESHOLDS, section: str = "article") -> dict[str, float]:
    """Minimum values per metric, from one TOML file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read thresholds from {path} ({exc})") from None
    return {k: float(v) for k, v in data.get(section, {}).items()}


def failures(metrics: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """One line per metric below its threshold."""
    out = []
    for name, minimum in thresholds.items():
        value = metrics.get(name)
        if value is None:
            out.append(f"{name}: missing from the metrics")
        elif value < minimum:
            out.append(f"{name} = {value:.3f} is below its threshold {minimum:.3f}")
    return out


def write_report(metrics: dict[str, Any], results: list[Result] | None, out_dir: Path,
                 title: str, thresholds: dict[str, float] | None = None,
                 flat: dict[str, Any] | None = None) -> list[Path]:
    """report.md, metrics.json and chart.png in out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    payload = {"generated": stamp, "metrics": metrics, "thresholds": thresholds or {}}
    if flat:
        payload["flat"] = flat
    if results is not None:
        payload["cases"] = [r.to_dict() for r in results]
    (out_dir / "metrics.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    lines = [f"# {title}", "", f"Generated {stamp}.", ""]
    if metrics:
        lines += ["| metric | value | threshold |", "|---|---|---|"]
        for name, value in metrics.items():
            if isinstance(value, float | int):
                t = (thresholds or {}).get(name)
                lines.append(f"| {name} | {_number(value)} | {'' if t is None else f'≥ {t:.2f}'} |")
        lines += ["", "| category | accuracy |", "|---|---|"]
        lines += [f"| {c} | {v:.3f} |" for c, v in metrics.get("accuracy_by_category", {}).items()]
        lines += ["", "| stage | p50 ms | p95 ms |", "|---|---|---|"]
        lines += [f"| {s} | {v['p50']:.1f} | {v['p95']:.1f} |" for s, v in metrics.get("latency_ms", {}).items()]
    if flat:
        lines += ["", flat_table(flat)]
    lines += ["", "![scores and latency](chart.png)", ""]
    (out_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")
    chart(metrics, results, out_dir / "chart.png", flat)
    return [out_dir / "report.md", out_dir / "metrics.json", out_dir / "chart.png"]


def flat_table(flat: dict[str, Any]) -> str:
    """Markdown table: this project vs the naive baseline on a flat QA set."""
    systems = list(flat["systems"])
    rows = ["| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for name, first in flat["systems"][systems[0]].items():
        if not isinstance(first, int | float):  # latency_ms, drop_reasons: below, or in metrics.json
            continue
        vals = [flat["systems"][s].get(name) for s in systems]
        rows.append(f"| {name} | " + " | ".join(_number(v) for v in vals) + " |")
    for s in systems:
        lat = flat["systems"][s].get("latency_ms", {})
        rows.append(f"| {s} latency p50 / p95 ms | {lat.get('p50', 0):.1f} / {lat.get('p95', 0):.1f} |"
                    + " |" * (len(systems) - 1))
    head = (f"{flat['dataset']}: {flat['questions']} questions ({flat['impossible']} unanswerable) over "
            f"{flat['documents']} documents {flat.get('setting', 'in one index')}")
    return head + "\n\n" + "\n".join(rows)


def figure_rows(result: Any, path: str = "") -> list[tuple[str, str]]:
    """A nested bench result as (dotted name, value) rows, for a terminal table."""
    if isinstance(result, dict):
        items = result.items()
    elif isinstance(result, list):
        # A scale point names itself by store and size rather than by its place in the list.
        items = ((f"{v['store']} {v['size']}" if isinstance(v, dict) and {"store", "size"} <= v.keys() else str(i), v)
                 for i, v in enumerate(result))
    else:
        return [(path, _number(result) if isinstance(result, int | float) else str(result))]
    rows = []
    for key, value in items:
        rows += figure_rows(value, f"{path}.{key}" if path else str(key))
    return rows


def _number(v: Any) -> str:
    if v is None:
        return ""
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else f"{v:.3f}"


def chart(metrics: dict[str, Any], results: list[Result] | None, path: Path,
          flat: dict[str, Any] | None = None) -> None:
    """Scores per category and the latency distribution, side by side."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import missing

        raise missing("matplotlib", "eval") from None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if metrics.get("accuracy_by_category"):
        cats = metrics["accuracy_by_category"]
        left.barh(list(cats), list(cats.values()), color="#4C72B0")
        left.set_xlim(0, 1)
        left.set_title("accuracy per category")
    elif flat:
        names = flat.get("chart") or ["gold_in_answer", "gold_in_citation", "abstain_on_impossible", "false_abstention"]
        width = 0.8 / len(flat["systems"])
        for i, (system, vals) in enumerate(flat["systems"].items()):
            left.barh([j + i * width for j in range(len(names))], [vals.get(n, 0) for n in names],
                      height=width, label=system)
        left.set_yticks([j + width / 2 for j in range(len(names))], names)
        left.set_xlim(0, 1)
        left.legend()
        left.set_title("flat QA: this project vs naive baseline")
    if results:
        totals = [1000 * r.timings.get("total", 0.0) for r in results]
        right.hist(totals, bins=20, color="#55A868")
        right.set_xlabel("ask latency (ms)")
        right.set_title("latency distribution")
    elif flat and flat.get("latencies_ms"):
        for system, values in flat["latencies_ms"].items():
            right.hist(values, bins=20, alpha=0.6, label=system)
        right.set_xlabel("latency (ms)")
        right.legend()
        right.set_title("latency distribution")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
