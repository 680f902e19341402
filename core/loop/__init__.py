"""Stage 4, maps to models: select tasks, finetune, evaluate, and compare what each choice gave
(METHOD.md §5-6). Everything here runs inside a run directory, started by a detached worker.

    policies.py     selection policies, one small function each, registered by name
    training.py     finetuning on selected tasks (accelerate; several processes with `accelerate launch`)
    evaluation.py   held-out ROUGE-L and exact match
    rounds.py       score / train / evaluate steps, each cached by content
    active_loop.py  the active instruction tuning loop, one policy and one seed per run
    findings.py     the ambiguous-vs-difficult experiment and its report
    compare.py      loop runs compared: ROUGE-L against tasks trained, over seeds; the map's drift
    runs.py         run directories: config, status, metrics.jsonl, cancel; launching workers
    worker.py       runs one run directory, detached from any UI (`python -m core.worker RUN_DIR`)
"""
