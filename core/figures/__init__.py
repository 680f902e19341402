"""Every Plotly figure taskmap draws, as plain functions from tables to figures: no Streamlit and
no file I/O, so the CLI's HTML, the reports and the dashboard's pages draw the same charts
and each builder is tested on its own.

    palette.py   one colour per region, subset and policy; metric labels
    map.py       the task map (cube-root PU axis, regions shaded and named) and its drift over rounds
    task.py      one task: P_j per instance and perturbation; a selection's region mix
    runs.py      a run's training loss and held-out scores; policies compared over seeds
    findings.py  the findings experiment's subsets
"""
