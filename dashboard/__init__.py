"""taskmap's Streamlit dashboard (entry point: dashboard/app.py).

Modules: paths (project home, allowed roots), data (cached reads of result tables and run
directories), figures (Plotly builders, no Streamlit), maps (the cached, selectable task map),
widgets (shared controls and the live run view), curation (Curate table and saved subsets),
jobs (starting and watching workers), text (task text as safe HTML). Pages live in pages/.
Nothing here imports torch or transformers.
"""
