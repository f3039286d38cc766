"""Text renderings of reuse reports: a terminal table (rich when installed) and README Markdown."""

from __future__ import annotations

import io
from collections.abc import Sequence

from registry.reuse.result import Component, Metric, ReuseReport

#: How many plugin-side components the table lists.
TOP_COMPONENTS = 10

_RUNTIME_KINDS = ("module", "op")


def top_plugin_components(report: ReuseReport, n: int = TOP_COMPONENTS) -> list[Component]:
    """What the plugin had to add, most telling first: module and op types that ran, then its own definitions."""
    own = report.plugin_components()
    return sorted(own, key=lambda c: (c.kind not in _RUNTIME_KINDS, -c.count, c.name))[:n]


def format_amount(metric: Metric, value: float) -> str:
    """A metric's core or plugin amount in its unit (times in milliseconds, counts as integers)."""
    if metric.unit == "seconds":
        return f"{value * 1000:.3g} ms"
    return f"{int(round(value)):,}"


def _summary(metric: Metric) -> str:
    return f"{metric.percent:.1f}% ({format_amount(metric, metric.core)} core / {format_amount(metric, metric.plugin)} plugin)"


def markdown(reports: Sequence[ReuseReport]) -> str:
    """One table: a row per metric, a column per plugin (core share and both amounts), then definitions."""
    if not reports:
        return "_No plugin registers a reuse target._\n"
    head = reports[0].headline.metric
    lines = [
        "**Headline** (" + head + ", core share): "
        + ", ".join(f"{r.plugin} **{r.headline.percent:.1f}%**" for r in reports),
        "",
        "| Metric | " + " | ".join(r.plugin for r in reports) + " | Definition |",
        "|---|" + "---|" * len(reports) + "---|",
    ]
    for i, metric in enumerate(reports[0].metrics):
        cells = []
        for r in reports:
            m = r.metrics[i] if i < len(r.metrics) and r.metrics[i].name == metric.name else r.metric(metric.name)
            cells.append(_summary(m))
        name = f"**{metric.name}**" if metric.name == head else metric.name
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_escape(metric.definition)} |")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def table(reports: Sequence[ReuseReport], width: int = 120) -> str:
    """The terminal rendering: per plugin, its metrics and the top plugin-defined components."""
    if not reports:
        return "No plugin registers a reuse target.\n"
    try:
        return _rich_table(reports, width)
    except ImportError:
        return _plain_table(reports)


def _rich_table(reports: Sequence[ReuseReport], width: int) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    for report in reports:
        console.print(
            f"Reuse report: {report.plugin} - headline: {report.headline.metric} = "
            f"{report.headline.percent:.1f}% core"
        )
        metrics = Table(show_lines=False)
        for col, justify in (("Metric", "left"), ("Core", "right"), ("Plugin", "right"), ("Core %", "right"),
                             ("Definition", "left")):
            metrics.add_column(col, justify=justify)  # type: ignore[arg-type]
        for m in report.metrics:
            metrics.add_row(m.name, format_amount(m, m.core), format_amount(m, m.plugin), f"{m.percent:.1f}",
                            m.definition)
        console.print(metrics)
        own = top_plugin_components(report)
        if own:
            comps = Table(title=f"Top plugin-defined components of {report.plugin}")
            for col in ("Component", "Kind", "Origin", "Count"):
                comps.add_column(col)
            for c in own:
                comps.add_row(c.name, c.kind, c.origin, str(c.count))
            console.print(comps)
        console.print()
    return buffer.getvalue()


def _plain_table(reports: Sequence[ReuseReport]) -> str:
    out: list[str] = []
    for report in reports:
        out.append(
            f"Reuse report: {report.plugin} - headline: {report.headline.metric} = {report.headline.percent:.1f}% core"
        )
        rows = [("Metric", "Core", "Plugin", "Core %", "Definition")]
        rows += [(m.name, format_amount(m, m.core), format_amount(m, m.plugin), f"{m.percent:.1f}", m.definition)
                 for m in report.metrics]
        out.extend(_columns(rows))
        own = top_plugin_components(report)
        if own:
            out.append(f"Top plugin-defined components of {report.plugin}:")
            out.extend(_columns([("Component", "Kind", "Origin", "Count")]
                                + [(c.name, c.kind, c.origin, str(c.count)) for c in own]))
        out.append("")
    return "\n".join(out) + "\n"


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    # The last column (definitions) is left unpadded so long text wraps in the terminal, not the table.
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(r, widths)), r[-1]]).rstrip() for r in rows]
