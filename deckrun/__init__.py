"""deckrun: build Marp slide decks whose code examples run and show their real output.

The package reads like the pipeline, one module per stage:

    project     where a course's files are; course.yaml
    sources     a deck's Markdown + Jinja -> Deck (Markdown with cell markers, Cells)
    slides      a deck's slides as Marp sees them: directives, classes, presenter notes
    cells       a cell's code and options; snippet files cut into named cells
    running     Cells -> CellResults: from the cache (cache, analysis) or run (execute,
                capture: kernel messages -> safe outputs)
    outputs     the results' data types (text, rich MIME bundles, errors)
    formatting  CellResults -> Marp Markdown (Jinja templates, figure files; live:
                interactive outputs; assets: images fetched once, placeholders)
    renditions  a deck's Markdown for the screen and for paper, as Marp is given it
    render      Marp Markdown -> HTML / PDF / PPTX through the Marp CLI (many at once)
    builder     decks (in parallel) through all the stages; uptodate: the no-change path
    check       rendered slides measured in the browser (overflow, alt text, contrast)
    publish     the students' site (site_index, handouts, notebook, themes)

around them: options (what a build is asked), progress (the terminal), cli (the
command line), watch and server (live preview), errors and files (shared basics).
"""
