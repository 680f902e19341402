"""Widgets the pages share, one module per purpose (pages import the module they need):

    common    shared() (a widget whose value every page sees), page_guard (errors as messages)
    rules     the region-rule controls and the tasks-per-region metrics
    pickers   the scored-set picker, the map's filters, the task picker of Task detail
    sources   where tasks and models come from: confined paths, uploads, their validation
    forms     inputs derived from the config records' own field descriptions (core.config.options)
    runs      a run's status, progress and charts, redrawn while its worker works

Session keys are named in dashboard.state; task data is escaped with dashboard.text.
"""
