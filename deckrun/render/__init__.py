"""Marp Markdown -> HTML, PDF, PPTX through the pinned Marp CLI (marp, worker.mjs), and
rendered decks looked at in the browser (check, browser.mjs)."""
