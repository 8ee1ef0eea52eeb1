"""deckrun: build Marp slide decks whose code examples run and show their real output.

The package reads like the pipeline, one module per stage:

    project    where a course's files are; course.yaml
    sources    a deck's Markdown + Jinja -> Deck (Markdown with cell markers, Cells)
    cells      a cell's code and options; snippet files cut into named cells
    running    Cells -> CellResults: from the cache (cache, analysis) or run (execute)
    outputs    the results' data types (text, rich MIME bundles, errors)
    formatting CellResults -> Marp Markdown (Jinja templates, figure files)
    render     Marp Markdown -> HTML / PDF / PPTX through the Marp CLI
    builder    one deck, then many, through all the stages

around them: options (what a build is asked), progress (the terminal), cli (the
command line), watch and server (live preview), errors and files (shared basics).
"""
