"""``camposer serve``: a web dashboard and JSON API that localize a photo from a browser.

Modules: :mod:`.images` (upload decoding and its limits), :mod:`.loading` (model + map +
floor plan, loaded once), :mod:`.service` (one inference worker thread behind a bounded
queue), :mod:`.app` (the FastAPI app: ``/localize``, ``/map``, ``/health``, the page),
:mod:`.server` (uvicorn, foreground or in a background thread), :mod:`.cli`.
FastAPI and uvicorn are imported by :mod:`.app` / :mod:`.server` only, so the rest of
``camposer_core`` never needs them.
"""
