"""Editable PowerPoint files: each deck's Markdown rendered to HTML by Marp (one batch for
all), taken apart in the browser (layout.mjs: where each heading, paragraph, list,
table, code block and picture is, and how it looks), then written with python-pptx
(pptx.py). Marp's own picture-a-slide PPTX is the format `pptx-pictures`."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from ..core.errors import ToolError
from .marp import MarpWorker, RenderJob, check_output, render_all
from .pptx import slides_of, write_pptx

# What makes an editable file besides Marp: a change to them makes every one again.
MAKERS = tuple(Path(__file__).with_name(name) for name in ("layout.mjs", "pptx.py", "powerpoint.py"))


def render_editable(root: Path, jobs: list[RenderJob], config: Path,
                    worker: MarpWorker) -> dict[RenderJob, Exception | None]:
    """Each job's editable PPTX (its format is `pptx`), or why not."""
    pages = {job: replace(job, fmt="html", target=job.target.with_name(f".{job.target.name}.html"))
             for job in jobs}
    outcomes: dict[RenderJob, Exception | None] = {}
    try:
        rendered = render_all(root, list(pages.values()), config, worker)
        for job, page in pages.items():
            problem = rendered.get(page)
            outcomes[job] = problem if problem is not None else _write(job, page.target, worker)
    finally:
        for page in pages.values():
            page.target.unlink(missing_ok=True)
    return outcomes


def _write(job: RenderJob, page: Path, worker: MarpWorker) -> Exception | None:
    """Take the rendered `page` apart and write the job's PPTX (whole, or not at all)."""
    partial = job.target.with_name(f".{job.target.name}.partial.pptx")
    try:
        with tempfile.TemporaryDirectory(dir=job.target.parent, prefix=".pptx-") as pictures:
            measured = worker.layout(page, Path(pictures), job.slides)
            write_pptx(slides_of(measured), partial, measured.get("title", ""), measured.get("author", ""),
                       measured.get("lang", ""))
        problem = check_output(partial, "pptx")
        if problem:
            raise ToolError(f"could not write {job.target.name}: {problem}")
        partial.replace(job.target)
        return None
    except (ToolError, OSError) as exc:
        return exc
    finally:
        partial.unlink(missing_ok=True)
