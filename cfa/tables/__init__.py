"""The paper's tables: one module per table (labels, layout, the paper's values), assembled from
`cfa evaluate` metrics files over the datasets, models and metrics params.yaml lists, and written as
Markdown, CSV, LaTeX and DVC JSON.
"""

from __future__ import annotations

import importlib

from cfa.errors import UserError

# params key -> module; a new table is one module plus its params entry.
TABLES = {
    "table2": "cfa.tables.table2",
    "table1": "cfa.tables.table1",
    "table4": "cfa.tables.table4",
    "table3": "cfa.tables.table3",
}


def table_module(key: str):
    if key not in TABLES:
        raise UserError(f"no table {key!r}; known tables: {', '.join(TABLES)}")
    return importlib.import_module(TABLES[key])


def table_key(number_or_key) -> str:
    """`2`, "2" or "table2" -> "table2"."""
    text = str(number_or_key)
    return text if text.startswith("table") else f"table{text}"
