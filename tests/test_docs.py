"""The documentation stays user documentation: a short README, links that resolve, no lab notebook.

Experiments and their figures belong in docs/research.md and benchmarks/results/; comments and
docstrings state decisions and point there.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

pytestmark = pytest.mark.code

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGES = ("features", "models", "flows", "review", "simulator", "cli")
# Phrases of an experiment diary, not of a user guide.
DIARY = re.compile(
    r"tried and not kept|\bnot kept[:.;)]|\bsession (?:\d+|one|two|three|four|five|six|seven|eight|nine)\b"
)
THREE_DECIMALS = re.compile(r"\b\d\.\d{3,}\b")


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 400, f"README.md has {len(lines)} lines; move reference material into docs/"


def test_readme_keeps_no_experiment_diary() -> None:
    text = README.read_text(encoding="utf-8")
    found = DIARY.findall(text)
    assert not found, f"README.md reads like a lab notebook ({found}); experiments go to docs/research.md"
    assert "docs/research.md" in text and "benchmarks/results/" in text


def test_relative_links_in_the_docs_resolve() -> None:
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"


def _comment_and_docstring_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every comment and docstring line; the code beside a comment left out."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            if is_docstring and isinstance(first.value.value, str):
                found += [(n, lines[n - 1]) for n in range(first.lineno, first.end_lineno + 1)]
    return sorted(found)


def test_package_comments_carry_no_measurement_figures() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in _comment_and_docstring_lines(path)
        if THREE_DECIMALS.search(line)
    ]
    assert not found, "state the decision and point to docs/research.md instead:\n" + "\n".join(found)
