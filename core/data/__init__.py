"""Stage 1, tasks to token ids: what a task is, where tasks come from, how a prompt is written
and perturbed, and how it becomes the token ids a model reads.

    tasks.py     Task / Instance / Example records and their validation (errors name file, record, field)
    loaders.py   NIV2 files, directories and checkouts with split lists; Alpaca / Self-Instruct records; datasets
    prompts.py   the Tk-Instruct prompt and its seeded word-drop perturbations (METHOD.md §1-2)
    encoding.py  prompt text -> (shared prefix, per-instance body) token ids for one tokenizer
"""
