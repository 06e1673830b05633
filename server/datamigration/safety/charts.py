"""The run report's charts: SVG files drawn with matplotlib (the Agg backend, no display).

matplotlib is imported here only, inside `draw`, so the CLI and the MCP server start without it;
a machine without it gets a report with tables and a note instead of charts. Text stays text in
the SVG (`svg.fonttype = none`) and every series and marker carries an id (`series-<name>`,
`marker-step-<id>`, `marker-trigger-<n>`), so a person can search the file and a test can read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Series:
    """One line: its id, its label, its points (seconds since the run started, value)."""

    name: str
    label: str
    points: Sequence[tuple[float, float]]
    #: drawn on a second y axis (batch size beside rows/s)
    right: bool = False
    step: bool = False


@dataclass(frozen=True)
class Marker:
    """A vertical line at `at` seconds: a step starting or ending, a trigger firing."""

    gid: str
    at: float
    label: str
    trigger: bool = False


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    ylabel: str
    series: Sequence[Series]
    right_label: str = ""
    markers: Sequence[Marker] = field(default_factory=tuple)


def matplotlib_missing() -> str | None:
    """Why charts cannot be drawn here, or None."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ("matplotlib is not installed (pip install 'agileflow-datamigration[reports]'); "
                "the report has tables only")  # fmt: skip
    return None


def draw(chart: Chart, path: Path) -> Path:
    """Write one chart as SVG to `path`."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    rc = {"svg.fonttype": "none", "svg.hashsalt": chart.name, "font.size": 9}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(9, 3.2))
        ax = fig.add_subplot()
        right = ax.twinx() if any(s.right for s in chart.series) else None
        for i, s in enumerate(chart.series):
            target = right if s.right and right is not None else ax
            xs, ys = [p[0] for p in s.points], [p[1] for p in s.points]
            plot = target.step if s.step else target.plot
            style = {"where": "post"} if s.step else {"marker": "." if len(xs) < 40 else None}
            plot(
                xs, ys, label=s.label, gid=f"series-{s.name}", linewidth=1.4, color=f"C{i}", **style
            )
        _mark(ax, chart.markers)
        ax.set_title(chart.title)
        ax.set_xlabel("seconds since the run started")
        ax.set_ylabel(chart.ylabel)
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if right is not None:
            right.set_ylabel(chart.right_label)
            more = right.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if handles:
            ax.legend(handles, labels, loc="upper left", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no readings in this run", transform=ax.transAxes,
                    ha="center", va="center", gid="no-data")  # fmt: skip
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", metadata={"Date": None})
    return path


def _mark(ax: object, markers: Sequence[Marker]) -> None:
    for m in markers:
        colour = "tab:red" if m.trigger else "grey"
        ax.axvline(m.at, color=colour, linestyle="--" if m.trigger else ":",  # type: ignore[attr-defined]
                   linewidth=1.2, gid=m.gid)  # fmt: skip
        if not m.label:
            continue
        ax.annotate(m.label, xy=(m.at, 1.0), xycoords=("data", "axes fraction"),  # type: ignore[attr-defined]
                    rotation=90, va="top", ha="right", fontsize=7, color=colour,
                    gid=f"{m.gid}-label")  # fmt: skip
