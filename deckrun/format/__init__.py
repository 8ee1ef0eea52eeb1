"""Results -> Marp Markdown: one template per output kind (markdown, templates/),
interactive outputs in frames and on paper (interactive), images fetched once (assets),
a deck's Markdown for screen and paper (rendition)."""
