"""The corpus of real ClickHouse queries (``tests/data/clickhouse_corpus``) and its safety rule.

``queries.jsonl`` holds one statement a line: ``source`` (repository and file it was copied
from), ``sql``, ``safe`` and ``why`` (the rule's reason when it is unsafe). :func:`why_unsafe`
is the rule from the corpus README; it reads ClickHouse's tokens only and uses the review
policy's lists (denied functions, harmless settings, in-memory table functions) but none of the
guard's checks. ``OVERRIDES`` records the statements the token rule cannot decide.

Re-label after editing the statements (from the repository root)::

    python tests/clickhouse_corpus.py tests/data/clickhouse_corpus/queries.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from text2sql_tune.safety._lexer import Kind, lex
from text2sql_tune.safety.catalog import ALLOWED_TABLE_FUNCTIONS, load_catalog
from text2sql_tune.safety.guard import DEFAULT_SETTING_BOUNDS

OVERRIDES = {
    # `user` is a column of the test's own table (funnel_test_strict_order), not the function.
    "select user, windowFunnel": (True, ""),
}


CORPUS = Path(__file__).parent / "data" / "clickhouse_corpus" / "queries.jsonl"


def load(path: Path = CORPUS) -> list[dict[str, object]]:
    """The corpus rows."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def label(sql: str) -> tuple[bool, str]:
    """(safe, why) for one statement, overrides first."""
    for prefix, verdict in OVERRIDES.items():
        if sql.startswith(prefix):
            return verdict
    why = why_unsafe(sql)
    return not why, why


def why_unsafe(sql: str) -> str:
    """The rule's reason a statement is unsafe, or ``""`` when it is safe."""
    catalog = load_catalog()
    denied = {n.lower() for n in catalog.denied}
    bare = {n.lower() for n in catalog.bare_callable}
    harmless = {s.lower() for s in catalog.settings_allowed}
    code = [t for t in lex(sql) if t.kind not in (Kind.SPACE, Kind.COMMENT)]
    words = [t.upper if t.kind is Kind.WORD else t.text for t in code]
    for i, token in enumerate(code):
        word = words[i]
        after = words[i + 1] if i + 1 < len(code) else ""
        before = words[i - 1] if i > 0 else ""
        name = token.name().lower() if token.kind in (Kind.WORD, Kind.QUOTED) else ""
        if name in ("system", "information_schema") and after == "." and before != ".":
            return "reads a system database"
        in_memory = {t.lower() for t in ALLOWED_TABLE_FUNCTIONS}
        if before in ("FROM", "JOIN") and after == "(" and name and name not in in_memory:
            return f"table function {token.name()} reaches outside the query's data"
        called = after == "(" or (name in bare and after not in (".", "->"))
        if name in denied and called and before not in (".", "AS"):
            return f"function {token.name()} is on the review policy's deny-list"
        if word == "INTO" and after == "OUTFILE":
            return "writes a file"
        if word == "SETTINGS":
            j = i + 1
            while j + 2 < len(code) and words[j + 1] == "=":
                setting, value = code[j].name().lower(), code[j + 2].text
                bound = DEFAULT_SETTING_BOUNDS.get(setting)
                if bound is not None and not (value.isdigit() and 0 < int(value) <= bound):
                    return f"setting {code[j].name()} = {value} raises a limit"
                if bound is None and setting not in harmless:
                    return f"setting {code[j].name()} is a limit, a switch or storage"
                j += 3
                if j < len(code) and words[j] == ",":
                    j += 1
                else:
                    break
        if word == "EXPLAIN" and after in ("CURRENT", "TABLE"):
            return "EXPLAIN of something that is not a query"
    return ""


def main(path: str) -> None:
    """Print the corpus with its labels recomputed."""
    for row in load(Path(path)):
        safe, why = label(str(row["sql"]))
        print(json.dumps({**row, "safe": safe, "why": why}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
