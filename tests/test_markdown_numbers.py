"""Computed prose: no measured-looking number may be typed into a notebook's markdown.

A result a student reads must be the one the run printed, so the notebooks print their sentences from results and
their markdown holds no figure-like number (a decimal, a signed change, a percentage, a duration) unless it is
- the paper's (the sentence names "paper" or "published"),
- a setting or an equation (inside `code` or $math$),
- a reference (§4.1, eq. 2, Table 3, Fig. 5, notebook 06, Exercise 2, a section heading) or a date/year,
- the dated time line every notebook opens with (``**Time (profile …, measured YYYY-MM-DD):**``), the instructor's
  planning figure for the whole run, kept in step with the README's time table.
Fast: it scans the committed (stripped) notebooks' JSON and executes nothing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "assignments").glob("*.ipynb"))

_ALLOWED = [
    r"\$\$.*?\$\$", r"\$[^$\n]*\$",  # equations
    r"`[^`\n]*`",  # settings, names, code
    r"<!--.*?-->",
    r"\b\d{4}-\d{2}-\d{2}\b", r"\b(?:19|20)\d\d\b",  # dates and years (citations)
    r"§\s*\d+(?:\.\d+)*",
    r"\b(?:eqs?|Eqs?)\.\s*\d+(?:\s*[–-]\s*\d+)?",
    r"\b(?:Tables?|Figs?\.?|Figures?)\s*\d+[a-z]?(?:\s*(?:[–/,-]|and)\s*\d+[a-z]?)*",
    r"\bnotebooks?\s+\d\d(?:\s*(?:[–,]|and|or)\s*\d\d)*", r"\b\d\d[–-]\d\d\b", r"\b0\d_\w+",
    r"\b(?:Exercise|Step|Section|step)\s+\d+(?:\.\d+)?", r"^#+\s*\d+(?:\.\d+)?", r"\b\d+(?:\.\d+)?\s*[×x]\s*\d+",
    r"(?:above|below|over|under|>|<|≥|≤)\s*0?\.\d+",  # a threshold in a definition
    r"\b9[059]\s?%(?=\s+(?:bootstrap\s+)?(?:confidence\s+)?intervals?)",  # the level of an interval
    r"\b[^\W\d]\s*[−+-]\s*\d\b",  # arithmetic on a symbol (frame t − 1, α − 1)
    r"\bMiT-b\d|\bResNet-\d+|\bDAVIS-\d+|\bSwin-T|\bmit_b\d|\bPVTv2-b\d|\b[A-Z]\w*-\d+\b",
]
_FIGURE = re.compile(
    r"(?<![\w.])(?:[+−±-]\s?\d+(?:\.\d+)?"  # a signed change
    r"|\d+\.\d+"  # a decimal
    r"|\d+(?:\.\d+)?\s?%"  # a percentage
    r"|\d+(?:\.\d+)?\s?(?:s|min|minutes|CPU-minutes|seconds|h)\b)"  # a duration
)
_TIME_LINE = re.compile(r"^\*\*Time \(profile `\w+`[^)]*measured \d{4}-\d{2}-\d{2}\):\*\*.*$", re.M)
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z*(|\-])|\n\s*\n|\n\s*[-*]\s|\n\|")


def figure_like_numbers(markdown: str) -> list[str]:
    """The sentences of ``markdown`` that hold a figure-like number none of the allowed forms explains."""
    text = _TIME_LINE.sub(" ", markdown)
    for pattern in _ALLOWED[:3]:
        text = re.sub(pattern, " ", text, flags=re.S)
    bad = []
    for sentence in _SENTENCE.split(text):
        if re.search(r"\bpaper|\bpublished\b", sentence, re.I):
            continue
        stripped = sentence
        for pattern in _ALLOWED[3:]:
            stripped = re.sub(pattern, " ", stripped, flags=re.M)
        if _FIGURE.search(stripped):
            bad.append(" ".join(sentence.split())[:160])
    return bad


def test_detector_catches_typed_results_and_spares_citations():
    assert figure_like_numbers("Our run reached J 0.64 on the clean split.")
    assert figure_like_numbers("It gains +0.26 J on the shifted splits.")
    assert figure_like_numbers("The std falls 14 % in 4.4 CPU-minutes.")
    assert not figure_like_numbers("The paper reports +7.2 J on Long-Videos (Table 3).")
    assert not figure_like_numbers("Set `TRAIN_STEPS=1200`; eq. 2 uses $\\lambda = 0.1$ (§4.1, Fig. 5, notebook 06).")
    assert not figure_like_numbers("**Time (profile `tiny`, 2 CPU cores, measured 2026-12-02):** 19 s in total.")
    assert not figure_like_numbers("## 6 · J and F on 40 test videos, 8 per split")
    assert not figure_like_numbers("Each change carries its 95 % bootstrap interval over the videos.")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_holds_no_typed_results(path):
    nb = json.loads(path.read_text())
    problems = [f"cell {i}: {s}" for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "markdown"
                for s in figure_like_numbers("".join(cell["source"]))]
    assert not problems, (f"{path.name}: markdown holds numbers that look measured; print them from results in a "
                          "code cell, label them as the paper's, or put a setting in `code`:\n" + "\n".join(problems))
