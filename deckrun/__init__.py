"""deckrun: build Marp slide decks whose code examples run and show their real output.

The package reads like the pipeline, one package per stage, data flowing one way:

    source      a deck's Markdown + Jinja -> Deck (Markdown with cell markers, Cells):
                deck, cells, notebooks (.ipynb read as snippet files), slides (as
                Marp sees them), audience (what students see), themes, analysis
                (what code reads and binds)
    execute     Cells -> CellResults: execution (plan: the cache or the kernel; run),
                kernel (the deck's protocol) over a connection here or on a gateway
                (remote), warm (kernels kept, what they hold), capture, outputs, cache,
                environment (the kernel's packages; the lock)
    format      CellResults -> Marp Markdown: markdown (a template per output kind),
                interactive (outputs that run script), assets (images fetched once),
                rendition (a deck's Markdown for screen and paper)
    render      Marp Markdown -> HTML / PDF / PPTX (marp, worker.mjs); check (the
                rendered slides measured in Chromium: browser.mjs)

driven by

    pipeline    build (decks in parallel through every stage, one Session, one
                render_variant), uptodate (the no-change path), status (status, prune)
    publish     site (the students' site and the lecturer's copies), index, handouts,
                notebook
    preview     watch (file events -> rebuilds), server (live reload), present
                (live cells while presenting)
    course      new (a course folder), doctor (the tools), importer (a notebook as
                a deck)
    cli         the command line

on top of core (errors, files, project, options, progress, tools). pyproject.toml's
import-linter contract keeps it so: commands over features over the pipeline over the
stages over core, and no import cycle.
"""
