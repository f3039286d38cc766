"""Text renderings of reuse reports: a terminal table (rich when installed) and README Markdown."""

from __future__ import annotations

import io
from collections.abc import Sequence

from registry.reuse.result import Component, Metric, ReuseReport

#: How many components not from the core the table lists.
TOP_COMPONENTS = 10


def format_amount(metric: Metric, value: float) -> str:
    """An amount in the metric's unit (times in milliseconds, counts as integers)."""
    return f"{value * 1000:.3g} ms" if metric.unit == "seconds" else f"{int(round(value)):,}"


def breakdown(report: ReuseReport, metric: Metric) -> str:
    """``81.2% reused (core 62.5%, vision 12.5%, language 6.2%; own 18.8%)``."""
    others = ", ".join(f"{o} {metric.share(o):.1f}%" for o in report.owners if o not in (report.plugin, "other"))
    return f"{metric.percent:.1f}% reused ({others}; own {100 - metric.percent if metric.total else 0:.1f}%)"


def headline(report: ReuseReport) -> str:
    """The one line to quote for a plugin."""
    return (f"Reuse report: {report.plugin} - {breakdown(report, report.headline)}, by {report.headline.name};"
            f" reused = not written by {report.plugin}")


def markdown(reports: Sequence[ReuseReport]) -> str:
    """One table: a row per metric, a column per plugin, then definitions."""
    if not reports:
        return "_No plugin registers a reuse target._\n"
    head = reports[0].headline_metric
    lines = [
        f"**Headline** ({head}; share the plugin did not write, and who wrote it):",
        "",
        *(f"- {r.plugin}: **{breakdown(r, r.headline)}**" for r in reports),
        "",
        "| Metric | " + " | ".join(r.plugin for r in reports) + " | Definition |",
        "|---|" + "---|" * len(reports) + "---|",
    ]
    for metric in reports[0].metrics:
        cells = [breakdown(r, r.metric(metric.name)) for r in reports]
        name = f"**{metric.name}**" if metric.name == head else metric.name
        definition = metric.definition.replace("|", "\\|")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {definition} |")
    return "\n".join(lines) + "\n"


def _rows(report: ReuseReport) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    owners = report.owners
    metrics = [("Metric", "Reused %", *owners, "Definition")]
    metrics += [(m.name, f"{m.percent:.1f}", *(format_amount(m, m.by_owner.get(o, 0)) for o in owners), m.definition)
                for m in report.metrics]
    top: list[Component] = report.plugin_components()[:TOP_COMPONENTS]
    components: list[tuple[str, ...]] = [("Component", "Kind", "Owner", "Count")]
    components += [(c.name, c.kind, c.owner, str(c.count)) for c in top]
    return metrics, components if top else []


def table(reports: Sequence[ReuseReport], width: int = 120) -> str:
    """The terminal rendering: per plugin, its headline, metrics by owner and the top non-core components."""
    if not reports:
        return "No plugin registers a reuse target.\n"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return _plain_table(reports)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    for report in reports:
        console.print(headline(report))
        for title, rows in zip(("", f"Top components of {report.plugin} not from the core"), _rows(report)):
            if not rows:
                continue
            grid = Table(title=title or None)
            for col in rows[0]:
                grid.add_column(col)
            for row in rows[1:]:
                grid.add_row(*row)
            console.print(grid)
        console.print()
    return buffer.getvalue()


def _plain_table(reports: Sequence[ReuseReport]) -> str:
    out: list[str] = []
    for report in reports:
        out.append(headline(report))
        metrics, components = _rows(report)
        out.extend(_columns(metrics))
        if components:
            out.append(f"Top components of {report.plugin} not from the core:")
            out.extend(_columns(components))
        out.append("")
    return "\n".join(out) + "\n"


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    # The last column is left unpadded so long text wraps in the terminal, not the table.
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(r, widths)), r[-1]]).rstrip() for r in rows]
