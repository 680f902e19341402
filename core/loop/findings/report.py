"""The findings report: one self-contained report.html (Plotly inlined, opens offline), a
report.md for issue trackers and papers, the figures as PNG, and analysis.json (the numbers the
dashboard shows). The conclusion comes first and is computed (core.loop.findings.analysis).

PNG export uses kaleido (>= 1), which drives a Chrome/Chromium: /usr/bin/chromium when present
(or BROWSER_PATH), offline (plotly.js from the plotly package, no MathJax). Where that cannot
work, the report is still written and says why it has no PNG.
"""

from __future__ import annotations

import html
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from core.config import FINDINGS_PRESETS, FindingsConfig, to_dict
from core.io import atomic_write_json
from core.loop.findings.analysis import ALPHA, LEVEL, METHODS, Analysis, analyze, fmt_p

TITLE = "Findings: which training tasks help a model generalise?"
BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable")
FIGURE_SIZES = {"subsets": (900, 450), "forest": (900, 420), "kinds": (900, 420), "categories": (1000, 700),
                "map": (1000, 700)}


def is_demo(cfg: FindingsConfig) -> bool:
    preset = FINDINGS_PRESETS.get(cfg.preset)
    return bool(preset and preset.demo)


def demo_banner(cfg: FindingsConfig) -> str | None:
    if not is_demo(cfg):
        return None
    return (f"Quick demo at small scale (preset '{cfg.preset}'): a few tasks, short training and few seeds, on a CPU. "
            "It shows how the experiment and its statistics work; its numbers are not evidence for or against the "
            "paper. Run the default preset (NIV2) or the self-instruct preset for a real comparison.")


# --- tables as text ------------------------------------------------------------------------

def _f(value, digits: int = 1, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def subset_rows(a: Analysis) -> tuple[list[str], list[list[str]]]:
    header = ["trained on", "ROUGE-L", f"{LEVEL:.0%} CI", "std over seeds", "classification", "generation",
              "exact match", "seeds", "held-out tasks"]
    rows = []
    for r in a.subsets.to_dict("records"):
        rows.append([r["subset"], _f(r["mean"]), f"{_f(r['low'])} – {_f(r['high'])}", _f(r.get("seed_std")),
                     _f(r.get("mean_classification")), _f(r.get("mean_generation")), _f(r.get("exact_match")),
                     str(r["n_seeds"]) if r["n_seeds"] else "– (no seed)", str(r["n_tasks"])])
    return header, rows


def comparison_rows(a: Analysis) -> tuple[list[str], list[list[str]]]:
    header = ["comparison", "difference", f"{LEVEL:.0%} CI", "p (bootstrap)", "p (Holm)", "Wilcoxon p (Holm)",
              "verdict", "tasks × seeds"]
    rows = []
    for r in a.comparisons.to_dict("records"):
        rows.append([f"{r['a']} − {r['b']}", _f(r["diff"], sign=True), f"{_f(r['low'], sign=True)} to {_f(r['high'], sign=True)}",
                     fmt_p(r["p"]), fmt_p(r["p_holm"]), fmt_p(r["wilcoxon_p_holm"]), r["verdict"],
                     f"{r['n_tasks']} × {r['n_seeds']}"])
    return header, rows


def kind_rows(a: Analysis) -> tuple[list[str], list[list[str]]]:
    header = ["trained on", "kind", "ROUGE-L", f"{LEVEL:.0%} CI", "held-out tasks"]
    rows = [[r["subset"], r["kind"], _f(r["mean"]), f"{_f(r['low'])} – {_f(r['high'])}", str(r["n_tasks"])]
            for r in a.by_kind.to_dict("records")]
    return header, rows


def table_rows(frame: pd.DataFrame, text_columns: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    header = list(frame.columns)
    rows = [[str(v) if c in text_columns else _f(v) for c, v in zip(header, row)] for row in frame.itertuples(index=False)]
    return header, rows


def settings(cfg: FindingsConfig, info: dict) -> list[tuple[str, str]]:
    t, e, s, rule = cfg.train, cfg.eval, cfg.score, cfg.rule
    how = info.get("heldout", {})
    pool_sources = ", ".join(cfg.pool) + (f" (split {cfg.pool_split})" if cfg.pool_split else "")
    if how.get("method") == "holdout":
        held = f"{info.get('heldout_tasks', '?')} tasks held out of the pool ({how['frac']:.0%} of each kind, seed {how['seed']}), never trained on"
    elif how.get("method") == "given":
        held = f"{info.get('heldout_tasks', '?')} tasks from {', '.join(cfg.eval_tasks)}"
    else:
        held = f"{info.get('heldout_tasks', '?')} tasks: the pool itself (a smoke test: not unseen tasks)"
    regions = info.get("region_sizes", {})
    minutes = info.get("seconds", 0) / 60
    machine = info.get("machine", {})
    out = [
        ("preset", f"{cfg.preset or 'custom'}" + (" (quick demo at small scale)" if is_demo(cfg) else "")),
        ("model", cfg.model if cfg.model != "default" else "default (SmolLM2-135M-Instruct)"),
        ("pool", f"{info.get('pool_tasks', '?')} tasks from {pool_sources}; regions "
                 + ", ".join(f"{k} {v}" for k, v in regions.items())),
        ("held-out tasks", held),
        ("subsets", f"{', '.join(cfg.subsets)}; {info.get('subset_size', '?')} tasks each (a larger region is sampled "
                    "with the seed; random draws from the whole pool)"),
        ("seeds", f"{len(cfg.seeds)}: {', '.join(map(str, cfg.seeds))} (one trained model per subset and seed)"),
        ("training", f"from the base model; {t.max_instances_per_task} instances per task, {t.epochs:g} epoch(s), "
                     f"lr {t.learning_rate:g} ({t.lr_scheduler}, {t.warmup_steps} warm-up steps), batch {t.batch_size}"
                     f" × {t.grad_accum} accumulation, prompts ≤ {t.max_source_tokens} / answers ≤ {t.max_target_tokens} tokens"),
        ("evaluation", f"first {e.max_instances_per_task} instances of each held-out task, greedy, ≤ {e.max_new_tokens} "
                       "new tokens; ROUGE-L (F, stemmed, max over references, ×100) averaged per task, then over tasks"),
        ("task map", f"scored with n = {s.n_instances}, k = {s.n_perturbations}, p = {s.drop_prob}, {s.mode}, labels "
                     f"{s.labels}, precision {s.dtype}; rule {rule.method}"
                     + (f" (ambiguous {rule.ambiguous_frac:g}, easy {rule.easy_frac:g}, difficult {rule.difficult_frac:g})"
                        if rule.method == "rank" else "")),
        ("run time", f"{minutes:.1f} min (this attempt)" + (f" on {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores), load "
                                              f"average {machine.get('load', '?')} at the end" if machine else "")),
    ]
    return out


# --- figures -------------------------------------------------------------------------------

def figures(a: Analysis, scores: pd.DataFrame, results: pd.DataFrame, cfg: FindingsConfig) -> dict:
    from core.figures.findings import category_figure, forest_figure, kind_figure, subset_ci_figure, subsets_map_figure

    trained = {}
    for row in results[results["subset"] != "base"].itertuples():
        trained.setdefault(row.subset, set()).update(row.task_ids)
    out = {"subsets": subset_ci_figure(a.subsets, title=f"Held-out ROUGE-L by training subset ({LEVEL:.0%} CI)")}
    if len(a.comparisons):
        out["forest"] = forest_figure(a.comparisons, title=f"Paired differences ({LEVEL:.0%} CI; verdict after Holm)")
    if len(a.by_kind):
        out["kinds"] = kind_figure(a.by_kind, title="Where the gain comes from: classification vs generation tasks")
    if len(a.by_category):
        out["categories"] = category_figure(a.by_category, title="Held-out ROUGE-L per task category (tasks)")
    out["map"] = subsets_map_figure(scores, cfg.rule, trained,
                                    title="Task map of the pool (base model), each subset's training tasks marked")
    return out


def find_browser() -> str | None:
    for candidate in (os.environ.get("BROWSER_PATH"), *BROWSERS, shutil.which("chromium"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def export_png(figs: dict, folder: Path) -> tuple[list[Path], str | None]:
    """Write each figure as folder/<name>.png with kaleido driving Chromium; ([paths], None), or
    ([], why not)."""
    try:
        import kaleido
    except ImportError:
        return [], "the PNG exporter kaleido (>= 1) is not installed: pip install 'kaleido>=1'"
    browser = find_browser()
    if browser is None:
        return [], ("no Chrome/Chromium found for the PNG export (install chromium, or set BROWSER_PATH); "
                    "the interactive figures are in report.html")
    os.environ.setdefault("BROWSER_PATH", browser)  # choreographer, kaleido's browser driver, reads it
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.png" for name in figs}
    jobs = []
    for name, fig in figs.items():
        width, height = FIGURE_SIZES.get(name, (900, 450))
        height = max(height, int(fig.layout.height or 0))
        jobs.append({"fig": fig, "path": str(paths[name]), "opts": {"format": "png", "width": width, "height": height}})
    try:
        kaleido.write_fig_from_object_sync(jobs, kopts={"mathjax": False})
    except Exception as exc:  # noqa: BLE001 - a missing PNG must never lose the report
        return [], f"the PNG export failed ({type(exc).__name__}: {str(exc).strip()[:300]}); see report.html"
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        return [p for p in paths.values() if p.is_file()], f"the PNG export wrote no {', '.join(missing)}"
    return list(paths.values()), None


# --- writers -------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    clean = lambda c: str(c).replace("|", "\\|")
    return ["| " + " | ".join(map(clean, header)) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(map(clean, r)) + " |" for r in rows]]


def _html_table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {"cpu": cpu or "?", "cores": os.cpu_count(), "load": load, "host": platform.node()}


def write_report(out: Path, results: pd.DataFrame, per_task: pd.DataFrame, scores: pd.DataFrame,
                 cfg: FindingsConfig, info: dict, log: Callable[[str], None] = print) -> list[Path]:
    out = Path(out)
    info = {**info, "heldout_tasks": int(per_task["task_id"].nunique()), "machine": info.get("machine") or machine_info()}
    a = analyze(per_task, "rougeL", info.get("subset_size"), demo=is_demo(cfg))
    figs = figures(a, scores, results, cfg)
    if cfg.skip_png:
        pngs, png_note = [], "PNG export skipped (--no-png)"
    else:
        pngs, png_note = export_png(figs, out / "figures")
    if png_note:
        log(png_note)
    banner = demo_banner(cfg)
    if info.get("partial"):
        banner = " ".join(filter(None, [f"Partial results: {info['partial']}.", banner]))
    setting_rows = settings(cfg, info)

    payload = {**a.to_dict(), "title": TITLE, "demo": banner, "settings": dict(setting_rows),
               "png": [str(p.relative_to(out)) for p in pngs], "png_note": png_note, "info": info,
               "config": to_dict(cfg)}
    atomic_write_json(out / "analysis.json", json.loads(json.dumps(payload, default=_json_default)))

    # report.md
    md = [f"# {TITLE}", ""]
    if banner:
        md += [f"> **{banner}**", ""]
    md += ["## Conclusion", "", a.conclusion, ""]
    md += ["## Held-out ROUGE-L per training subset", "", *_md_table(*subset_rows(a)), ""]
    if len(a.comparisons):
        md += ["## Paired comparisons", "", *_md_table(*comparison_rows(a)), ""]
    md += [f"Each number rests on the held-out tasks × seeds shown; the base model has no seed. "
           f"Separated = Holm-adjusted bootstrap p < {ALPHA}.", ""]
    if len(a.by_kind):
        md += ["## Classification vs generation", "", *_md_table(*kind_rows(a)), ""]
    md += ["## Per task category (mean over the category's held-out tasks and the seeds)", "",
           *_md_table(*table_rows(a.by_category, ("category", "n_tasks"))), ""]
    md += ["## Per held-out task (mean over seeds)", "",
           *_md_table(*table_rows(a.per_task, ("task_id", "kind", "category"))), ""]
    md += ["## Settings", "", *[f"- **{k}**: {v}" for k, v in setting_rows], ""]
    md += ["## Methods", "", *[f"- {m}" for m in METHODS], *[f"- Note: {n}" for n in a.notes], ""]
    if pngs:
        md += ["## Figures", "", *[f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in pngs], ""]
    else:
        md += [f"_No PNG figures: {png_note}._", ""]
    (out / "report.md").write_text("\n".join(md))

    # report.html: one file, plotly.js inlined once
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>{html.escape(TITLE)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(TITLE)}</h1>"]
    if banner:
        parts.append(f"<div class='demo' id='demo-banner'>{html.escape(banner)}</div>")
    parts.append(f"<div class='conclusion' id='conclusion' data-headline='{html.escape(a.headline)}'>"
                 f"<h2>Conclusion</h2><p>{html.escape(a.conclusion)}</p></div>")
    first = True

    def figure(name: str) -> None:
        nonlocal first
        if name in figs:
            parts.append(figs[name].to_html(full_html=False, include_plotlyjs=first, div_id=f"fig-{name}",
                                            config={"displaylogo": False, "responsive": True}))
            first = False

    parts.append("<h2>Held-out ROUGE-L per training subset</h2>")
    parts.append(_html_table(*subset_rows(a), "subsets"))
    figure("subsets")
    if len(a.comparisons):
        parts.append("<h2>Paired comparisons</h2>")
        parts.append(_html_table(*comparison_rows(a), "comparisons"))
        parts.append(f"<p class='note'>Each number rests on the held-out tasks × seeds shown; the base model has no "
                     f"seed. Separated = Holm-adjusted bootstrap p &lt; {ALPHA}.</p>")
        figure("forest")
    if len(a.by_kind):
        parts.append("<h2>Where the gain comes from</h2>")
        parts.append(_html_table(*kind_rows(a), "kinds"))
        figure("kinds")
    parts.append("<h3>Per task category</h3>")
    figure("categories")
    parts.append(_html_table(*table_rows(a.by_category, ("category", "n_tasks")), "categories"))
    parts.append("<h2>The task map and the subsets</h2>")
    figure("map")
    parts.append("<h2>Settings</h2><dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                                                  for k, v in setting_rows) + "</dl>")
    parts.append("<h2>Methods</h2><ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in METHODS)
                 + "".join(f"<li>Note: {html.escape(n)}</li>" for n in a.notes) + "</ul>")
    parts.append("<details><summary>Per held-out task (mean over seeds)</summary>"
                 + _html_table(*table_rows(a.per_task, ("task_id", "kind", "category")), "tasks") + "</details>")
    parts.append(f"<p class='note'>{'Figures also as PNG in figures/.' if pngs else 'No PNG figures: ' + html.escape(png_note or '')}</p>")
    parts.append("</body></html>")
    tmp = out / "report.html.tmp"
    tmp.write_text("\n".join(parts))
    tmp.replace(out / "report.html")
    figs["map"].write_html(out / "map.html", include_plotlyjs=True)
    return [out / "report.html", out / "report.md", out / "analysis.json", out / "map.html", *pngs]


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.ndarray, set, tuple)):
        return list(value)
    return str(value)


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.7em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.demo{background:#fff3cd;border:1px solid #e0c060;padding:.8em 1em;border-radius:6px;font-weight:600}
.conclusion{background:#eef5ff;border-left:5px solid #1f77b4;padding:.4em 1.2em;margin:1em 0}
.conclusion p{font-size:1.1em;line-height:1.5}
table{border-collapse:collapse;margin:.6em 0;font-size:.95em}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right} th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}
dt{font-weight:600;margin-top:.4em} dd{margin-left:1.5em}
.note{color:#555;font-size:.9em}
"""
