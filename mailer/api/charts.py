"""The console's charts, drawn on the server as SVG (no script, no CDN), each with a text
alternative: its title and summary for assistive technology, and a table of days to read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

from mailer.mailboxes.directory import PaceUse
from mailer.storage.console_ports import HourCount

HOURS = 7 * 24
WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 720, 160, 12, 22, 36
# Colours that read on white and apart from each other (also in the legend's words).
COLOURS = {
    "sent": "#1b7a3a",
    "failed": "#b3261e",
    "bounced": "#8a4b00",
    "renewed": "#1f5fa8",
    "renewal_failed": "#b3261e",
}
WORDS = {
    "sent": "sent",
    "failed": "failed",
    "bounced": "bounced",
    "renewed": "renewals",
    "renewal_failed": "failed renewals",
}


@dataclass(frozen=True)
class Chart:
    svg: Markup
    # Per day (UTC), each outcome's count: the text alternative's table.
    days: list[tuple[str, dict[str, int]]]
    totals: dict[str, int]
    outcomes: tuple[str, ...]


def hourly(
    counts: Sequence[HourCount], *, now: float, outcomes: tuple[str, ...], title: str, key: str
) -> Chart:
    """Stacked bars, one per hour of the last 7 days, of ``outcomes``."""
    first = int(now // 3600 * 3600) - (HOURS - 1) * 3600
    grid = {(c.hour, c.outcome): c.count for c in counts if c.outcome in outcomes}
    stacks = [[grid.get((first + i * 3600, o), 0) for o in outcomes] for i in range(HOURS)]
    top = max((sum(s) for s in stacks), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - TOP - BOTTOM
    bar = plot_w / HOURS
    parts: list[str] = []
    for i, stack in enumerate(stacks):
        y = float(TOP + plot_h)
        for outcome, n in zip(outcomes, stack, strict=True):
            if n:
                h = plot_h * n / top
                y -= h
                parts.append(
                    f'<rect x="{LEFT + i * bar:.1f}" y="{y:.1f}" width="{max(bar - 0.6, 0.6):.1f}"'
                    f' height="{h:.1f}" fill="{COLOURS[outcome]}"/>'
                )
    for day in range(8):
        x = LEFT + day * 24 * bar
        label = datetime.fromtimestamp(first + day * 86400, UTC).strftime("%d %b")
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#ccc"/>'
        )
        if day < 7:
            parts.append(f'<text x="{x + 2:.1f}" y="{HEIGHT - 6}">{label}</text>')
    parts.append(f'<text x="0" y="{TOP + 8}">{top}</text><text x="0" y="{TOP + plot_h}">0</text>')
    totals = {o: sum(s[j] for s in stacks) for j, o in enumerate(outcomes)}
    summary = ", ".join(f"{totals[o]} {WORDS[o]}" for o in outcomes)
    desc = f"Per hour over the last 7 days: {summary}; the busiest hour had {top if any(totals.values()) else 0}."
    svg = (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{key}-t {key}-d"'
        f' class="chart"><title id="{key}-t">{escape(title)}</title>'
        f'<desc id="{key}-d">{escape(desc)}</desc>{"".join(parts)}</svg>'
    )
    days = []
    for day in range(7):
        hours = stacks[day * 24 : (day + 1) * 24]
        label = datetime.fromtimestamp(first + day * 86400, UTC).strftime("%a %d %b")
        days.append((label, {o: sum(h[j] for h in hours) for j, o in enumerate(outcomes)}))
    return Chart(Markup(svg), days, totals, outcomes)  # noqa: S704 (built from escaped parts)


def pace(uses: Sequence[PaceUse], *, key: str) -> Markup:
    """One bar per limit: the calls its window holds against the limit."""
    rows = []
    for i, use in enumerate(uses):
        share = min(use.used / use.count, 1.0) if use.count else 0.0
        colour = "#b3261e" if share >= 0.9 else "#8a4b00" if share >= 0.6 else "#1b7a3a"
        y = i * 26
        rows.append(
            f'<rect x="0" y="{y}" width="300" height="16" fill="#eee"/>'
            f'<rect x="0" y="{y}" width="{300 * share:.1f}" height="16" fill="{colour}"/>'
            f'<text x="310" y="{y + 13}">{escape(pace_words(use))}</text>'
        )
    words = "; ".join(pace_words(u) for u in uses) or "no limits"
    svg = (
        f'<svg viewBox="0 0 {WIDTH} {max(len(uses), 1) * 26}" role="img" class="pace"'
        f' aria-label="{escape("Pace used against its limits: " + words)}">{"".join(rows)}</svg>'
    )
    return Markup(svg)  # noqa: S704 (built from escaped parts)


def pace_words(use: PaceUse) -> str:
    return f"{use.used} of {use.count} calls per {window_words(use.window_seconds)}"


def window_words(seconds: float) -> str:
    for size, word in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return word if n == 1 else f"{n} {word}s"
    return f"{seconds:g} seconds"
