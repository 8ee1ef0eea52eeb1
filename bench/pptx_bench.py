"""Editable PowerPoint of Session 12 against its PDF, in the same run.

  - time: `build.py --pptx` against `build.py --pdf` on the same deck, cells from the cache,
    the output removed before each run so that it is made again; in turns (goal: the PPTX
    within 2x the PDF's time);
  - looks: LibreOffice renders the PPTX to PDF; each page is compared with the PDF's page
    (grey levels at 40 dpi, SSIM over 8x8 blocks: 1.0 is the same picture), one figure a
    slide and their median.

Run: .venv/bin/python bench/pptx_bench.py  (needs LibreOffice and poppler-utils: ./run bench)
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DECK = "session-12"
ROUNDS = 5
COURSE = ("slides", "snippets", "data", "themes", "course.yaml", "_freeze")


def course_copy(work: Path) -> Path:
    root = work / "course"
    root.mkdir()
    for part in COURSE:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    return root


def build(root: Path, fmt: str) -> float:
    """Seconds for a build of the deck to `fmt` with its output made again."""
    for old in (root / "build").glob(f"{DECK}.{fmt}"):
        old.unlink()
    started = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(root), f"--{fmt}", "--frozen",
                    f"slides/{DECK}.md"], cwd=root, check=True, capture_output=True)
    return time.perf_counter() - started


def pages(pdf: Path, folder: Path, prefix: str) -> list[np.ndarray]:
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-png", str(pdf), str(folder / prefix)], check=True)
    return [np.asarray(Image.open(page).convert("L"), dtype=float) for page in sorted(folder.glob(f"{prefix}-*.png"))]


def similarity(a: np.ndarray, b: np.ndarray, block: int = 8) -> float:
    """Mean SSIM over blocks (b resized to a's size first)."""
    if a.shape != b.shape:
        b = np.asarray(Image.fromarray(b.astype(np.uint8)).resize(a.shape[::-1]), dtype=float)
    h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    x = a[:h, :w].reshape(h // block, block, w // block, block).transpose(0, 2, 1, 3).reshape(-1, block * block)
    y = b[:h, :w].reshape(h // block, block, w // block, block).transpose(0, 2, 1, 3).reshape(-1, block * block)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = x.mean(1), y.mean(1)
    vx, vy = x.var(1), y.var(1)
    cov = ((x - mx[:, None]) * (y - my[:, None])).mean(1)
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(ssim.mean())


def main() -> int:
    office = shutil.which("soffice")
    if not (office and shutil.which("pdftoppm")):
        print("needs LibreOffice (soffice) and poppler-utils (pdftoppm): ./run bench installs them")
        return 1
    with tempfile.TemporaryDirectory(prefix="deckrun-pptx-") as temp:
        work = Path(temp)
        root = course_copy(work)
        build(root, "html")  # the first build: Markdown, figures, Marp CLI and browser warm
        pairs = [(build(root, "pdf"), build(root, "pptx")) for _ in range(ROUNDS)]
        pdf_time, pptx_time = (statistics.median(p[i] for p in pairs) for i in (0, 1))
        ratio = statistics.median(pptx / pdf for pdf, pptx in pairs)
        print(f"{DECK}, {ROUNDS} rounds in turns, cells from the cache, 2 cores:")
        print(f"  build.py --pdf   median {pdf_time:.2f}s")
        print(f"  build.py --pptx  median {pptx_time:.2f}s  ({ratio:.2f}x the PDF's, goal at most 2x)")

        subprocess.run([office, "--headless", f"-env:UserInstallation=file://{work}/office", "--convert-to", "pdf",
                        "--outdir", str(work / "office-pdf"), str(root / "build" / f"{DECK}.pptx")],
                       check=True, capture_output=True, timeout=300)
        ours = pages(work / "office-pdf" / f"{DECK}.pdf", work, "pptx")
        theirs = pages(root / "build" / f"{DECK}.pdf", work, "pdf")
        if len(ours) != len(theirs):
            print(f"  pages: {len(ours)} in the PPTX, {len(theirs)} in the PDF")
            return 1
        scores = [similarity(a, b) for a, b in zip(theirs, ours)]
        print("  the PPTX as LibreOffice renders it against the PDF, per slide (SSIM, 1.0 = the same):")
        for start in range(0, len(scores), 8):
            print("   " + "  ".join(f"{n + 1:2d}: {s:.3f}" for n, s in enumerate(scores[start:start + 8], start)))
        print(f"  median {statistics.median(scores):.3f}, lowest {min(scores):.3f} "
              f"(slide {scores.index(min(scores)) + 1})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
