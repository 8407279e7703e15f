"""The evaluation report as a table: the same rows for the HTML page, CSV and XLSX."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qunti.reports.evaluation import DIMENSIONS, Figures

RATE_COLUMNS = ("响应率", "按时办结率", "满意率")


def header(channels: Mapping[str, str]) -> list[str]:
    return ["维度", "名称", "订单数", "响应率", "按时办结率", "满意率", "评价数", "平均评分",
            *(f"{name}（件）" for name in channels.values())]


def row(dimension: str, name: str, figures: Figures, channels: Mapping[str, str]) -> list[Any]:
    """One line: rates as fractions (None where nothing could be judged)."""
    return [DIMENSIONS.get(dimension, "合计"), name, figures.orders, figures.response_rate, figures.on_time_rate,
            figures.satisfaction_rate, figures.rated, figures.average_rating,
            *(figures.channels.get(code, 0) for code in channels)]


def table(result: Mapping[str, Sequence[Figures]], name_of: Callable[[str, str], str],
          channels: Mapping[str, str]) -> list[list[Any]]:
    """Every group of every dimension, then the total; ``name_of(dimension, key)`` names a group."""
    rows = []
    for dimension in DIMENSIONS:
        for figures in result.get(dimension, []):
            rows.append(row(dimension, name_of(dimension, figures.key), figures, channels))
    for figures in result.get("total", []):
        rows.append(row("total", "全部", figures, channels))
    return rows


def _cell_text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if column in RATE_COLUMNS:
        return f"{value * 100:.1f}%"
    text = str(value)
    # A spreadsheet must read a name as text, never as a formula someone typed into it.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(head: list[str], rows: list[list[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, which Excel needs to read Chinese from CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(head)
    for line in rows:
        writer.writerow([_cell_text(value, column) for value, column in zip(line, head)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(head: list[str], rows: list[list[Any]], *, title: str, sheet_name: str = "评单统计") -> bytes:
    """One sheet; rates are numbers formatted as percentages, so they can be sorted and summed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_name
    sheet.append([title])
    sheet["A1"].font = Font(bold=True)
    sheet.append(head)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for line in rows:
        sheet.append([value if not isinstance(value, str) else _cell_text(value, column)
                      for value, column in zip(line, head)])
        for column, cell in zip(head, sheet[sheet.max_row]):
            if column in RATE_COLUMNS and cell.value is not None:
                cell.number_format = "0.0%"
    sheet.column_dimensions["B"].width = 34
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
