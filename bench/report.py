"""Rows of the benchmark's output: a figure, its uvicorn counterpart, the ratio, the target."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

UNITS = {
    "us": lambda v: f"{v:,.0f} µs",
    "ms": lambda v: f"{v:,.0f} ms",
    "s": lambda v: f"{v:,.2f} s",
    "rps": lambda v: f"{v:,.0f}/s",
    "MB": lambda v: f"{v:,.1f} MB",
}

COLUMNS = (("figure", 44), ("smyth", 14), ("uvicorn", 12), ("ratio", 8), ("target", 22))


@dataclass
class Row:
    figure: str
    value: float | None
    unit: str
    baseline: float | None = None
    target: str = ""  # as printed, e.g. "≤ 2.0x"
    passed: bool | None = None  # None: no target, the figure is for information
    note: str = ""  # errors, details
    errors: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def cells(self) -> list[str]:
        fmt = UNITS[self.unit]
        value = "-" if self.value is None or math.isnan(self.value) else fmt(self.value)
        baseline = "-" if self.baseline is None else fmt(self.baseline)
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = {True: "pass", False: "FAIL", None: ""}[self.passed]
        return [self.figure, value, baseline, ratio, self.target, verdict]


def header() -> str:
    return line([name for name, _ in COLUMNS] + ["result"])


def line(cells: list[str]) -> str:
    out = "".join(f"{cell:<{width}}" for cell, (_, width) in zip(cells, COLUMNS))
    return (out + "".join(cells[len(COLUMNS):])).rstrip()


class Report:
    """Prints each row as soon as it is measured, then a summary of the targets."""

    def __init__(self, stream=sys.stdout) -> None:  # type: ignore[no-untyped-def]
        self.rows: list[Row] = []
        self.stream = stream

    def print(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def section(self, title: str) -> None:
        self.print()
        self.print(f"== {title}")
        self.print(header())

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        self.print(line(row.cells()))
        if row.note:
            self.print(f"    {row.note}")
        return row

    @property
    def errors(self) -> int:
        return sum(row.errors for row in self.rows)

    def summary(self) -> None:
        judged = [row for row in self.rows if row.passed is not None]
        failed = [row for row in judged if not row.passed]
        self.print()
        self.print(f"targets met: {len(judged) - len(failed)} of {len(judged)}"
                   + (f"; not met: {'; '.join(row.figure for row in failed)}" if failed else ""))
        self.print(f"request errors: {self.errors}")
