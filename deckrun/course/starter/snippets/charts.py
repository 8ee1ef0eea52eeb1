"""The course's charts, as cells a deck shows with snippet("charts.py#NAME")."""

# %% marks
import csv

import matplotlib.pyplot as plt

with open("data/marks.csv", encoding="utf-8") as handle:
    rows = list(csv.DictReader(handle))
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar([row["student"] for row in rows], [int(row["mark"]) for row in rows], color="#0f8a80")
ax.set_ylabel("mark")
ax.set_title("Marks in the first quiz");
