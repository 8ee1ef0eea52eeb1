"""Sources -> a deck: front matter, Jinja and the deck's cells (deck, cells), its slides as
Marp sees them (slides), what students may see (audience), themes, and what a cell's
code reads and binds (analysis)."""
