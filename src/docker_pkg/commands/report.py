"""``docker-pkg report REPORT.json --html FILE``: the run page from a saved report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from docker_pkg.errors import UsageError
from docker_pkg.files import read_text
from docker_pkg.outputs.pages import write_page


def report_page(report: Path, page: Path, stdout: TextIO | None = None) -> int:
    text = read_text(report, "the report", UsageError)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not a JSON report: {exc.msg}", path=report, line=exc.lineno) from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise UsageError("not a docker-pkg build report (no list of images)", path=report)
    try:
        write_page(page, document)
    except OSError as exc:
        raise UsageError(f"cannot write the page: {exc.strerror}", path=page) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the report lacks what the page needs: {exc}", path=report) from None
    print(f"Run page: {page}", file=stdout or sys.stdout)
    return 0
