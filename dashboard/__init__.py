"""taskmap's Streamlit dashboard (entry point: dashboard/app.py; pages: views/*.py, listed in nav.py).

Modules: paths (project home, allowed roots), data (cached reads of result tables and run
directories), maps (the cached, selectable task map), filters (the map's filters and a
selection's rows), state (every session key, and the hand-offs between pages), widgets/ (shared
controls: rule, pickers, task sources, config forms, run views), curation (Curate table and saved
subsets), jobs (starting and watching workers), text (task data escaped for Markdown/HTML).
Figures come from core.figures. Nothing here imports torch or transformers.
"""
