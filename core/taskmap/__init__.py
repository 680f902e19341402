"""Stage 3, scores to a map: the region rule, scored sets on disk, exports.

    regions.py  ambiguous / easy / difficult / other, by an explicit, adjustable rule (METHOD.md §4)
    results.py  scored sets (tasks.parquet, sequences.parquet, manifest.json): written, read, re-ruled
    export.py   CSV / Parquet tables, NIV2 split lists, task directories
"""
