"""taskmap's engine, one package per stage of the data's way through it:

    data/      task files -> tasks -> prompts (+ perturbations) -> token ids
    scoring/   token ids -> greedy answers and their probabilities under every prompt, cached
    taskmap/   per-task scores -> regions, scored sets on disk, exports
    loop/      maps -> selected tasks -> finetuning -> evaluation, in run directories
    figures/   every chart, for the CLI, the reports and the dashboard
    cli/       the `taskmap` command
    config.py  the frozen configuration records;  io.py  cache root, keys, atomic writes;
    statistics.py  summaries over seeds

Nothing in this package imports Streamlit. torch is imported only by the modules that run a
model (scoring's scorers and models, loop's training and evaluation), inside them, so the
dashboard uses the rest without loading torch.
"""

import os

__version__ = "0.1.0"

# fp32 matrix products whose bits do not depend on the number of threads (MKL's conditional
# numerical reproducibility), so a pack scored by a 1-thread Ray actor equals the same pack
# scored by a 2-thread process (without it, MKL's sgemm splits some shapes differently and a
# quarter of the log-probs differ in their last bits). Read when MKL starts: set before torch.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

# Bump when a change alters any score the engine writes: it is part of every cache key,
# so old cached results are never mixed with new ones.
ENGINE_VERSION = "4"
