"""One palette for every chart: a region, a findings subset or a policy has the same colour on the
map, in the CLI's HTML, in reports and on every dashboard page."""

from __future__ import annotations

REGION_COLORS = {"ambiguous": "#d62728", "easy": "#2ca02c", "difficult": "#1f77b4", "other": "#b0b0b0"}
RANDOM_COLOR = "#7f7f7f"
SUBSET_COLORS = {**REGION_COLORS, "random": RANDOM_COLOR, "base": "#000000"}
POLICY_COLORS = {"uncertainty": "#d62728", "random": RANDOM_COLOR, "high-perplexity": "#9467bd",
                 "low-perplexity": "#17becf", "ambiguous": "#ff7f0e", "easy": "#2ca02c", "difficult": "#1f77b4",
                 "curated": "#8c564b"}
FALLBACK = ("#e377c2", "#bcbd22", "#8c564b", "#17becf", "#9467bd")  # names with no colour of their own
METRIC_LABELS = {
    "rougeL": "ROUGE-L", "rougeL_classification": "ROUGE-L (classification)",
    "rougeL_generation": "ROUGE-L (generation)", "exact_match": "exact match",
    "exact_match_classification": "exact match (classification)", "exact_match_generation": "exact match (generation)",
}


def color_of(name: str, palette: dict[str, str], index: int = 0) -> str:
    return palette.get(name, FALLBACK[index % len(FALLBACK)])


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
