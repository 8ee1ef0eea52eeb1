"""Counting words in the course's review data: the simplest way to turn text into numbers."""

# %% load
#| inputs: data/reviews.csv
import re
from collections import Counter

import pandas as pd

reviews = pd.read_csv("data/reviews.csv")


def words(text):
    """Lower-case words, punctuation dropped."""
    return re.findall(r"[\w']+", text.lower())


counts = {label: Counter(w for text in group["text"] for w in words(text))
          for label, group in reviews.groupby("label")}

# %% table
stop = {"the", "a", "and", "was", "is", "of", "to", "i", "my", "in", "our", "this",
        "it", "for", "me", "on", "at", "with", "all", "so", "how", "every", "too", "an"}
top = pd.DataFrame({label: [w for w, _ in c.most_common(40) if w not in stop][:6]
                    for label, c in counts.items()})
top

# %% chart
#| fig-alt: "A bar chart of the most frequent words in the 200 reviews."
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharex=True)
for ax, (label, counter) in zip(axes, counts.items()):
    common = [(w, n) for w, n in counter.most_common(60) if w not in stop][:8]
    ax.barh([w for w, _ in common][::-1], [n for _, n in common][::-1],
            color="#0f8a80" if label == "positive" else "#b3261e")
    ax.set_title(f"{label} reviews")
fig.tight_layout()
