"""Decks through every stage, in parallel, rendered together (build), and the no-change
path (uptodate)."""
