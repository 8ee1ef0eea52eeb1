"""`deckrun check`: the decks built (HTML), then looked at in the browser: slides that
overflow, images without alt text, text with too little contrast; one line a finding."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..core.options import BuildOptions
from .build import Session, build_decks


def check_decks(paths: list[Path], options: BuildOptions, session: Session) -> int:
    """Build the decks' HTML, then look at each in the browser: one line per finding."""
    from ..render.check import check_deck

    reports = build_decks(paths, replace(options, formats=("html",)), session)
    findings = [finding for report in reports if report.built
                for finding in check_deck(session.worker(), report.built.deck,
                                          report.built.markdown.with_suffix(".html"))]
    for finding in findings:
        session.progress.line(str(finding))
    failed = sum(not r.ok for r in reports)
    session.progress.line(f"checked {len(reports) - failed} deck{'s' if len(reports) - failed != 1 else ''}: "
                          f"{len(findings) or 'no'} finding{'s' if len(findings) != 1 else ''}")
    return 1 if failed or (options.strict and findings) else 0
