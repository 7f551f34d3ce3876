"""Pretty-print a JSON file keeping short arrays and small objects on one line.

Used to keep assets/landmarks.json readable after scripted edits:
    python tools/format_json.py assets/landmarks.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _inline(value: Any) -> str | None:
    text = json.dumps(value, ensure_ascii=False)
    if isinstance(value, list) and len(text) <= 100 and all(not isinstance(v, dict) for v in value):
        return text
    if (
        isinstance(value, dict)
        and len(text) <= 100
        and all(
            not isinstance(v, dict | list) or (isinstance(v, list) and len(json.dumps(v)) <= 40)
            for v in value.values()
        )
    ):
        return text
    return None


def dumps(value: Any, indent: int = 0) -> str:
    inline = _inline(value)
    if inline is not None and indent > 0:
        return inline
    pad = "  " * (indent + 1)
    end = "  " * indent
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}" if items else "{}"
    if isinstance(value, list):
        items = [pad + dumps(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + end + "]" if items else "[]"
    return json.dumps(value, ensure_ascii=False)


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        data = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(dumps(data) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
