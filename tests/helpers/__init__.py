"""What the tests share (never a test module imported by another): a course to build
(course), a running watcher or presenter and its event stream (serving), a page in
headless Chromium (browser), a presented deck's live cells (live)."""
