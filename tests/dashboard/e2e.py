"""Browser end-to-end harness: a real `streamlit run` server and Debian's headless Chromium.

Reusable pieces (the browser tests import them; conftest.py re-exports the fixtures):
  app_server   fixture: start(home, extra_env=None) -> Server(url, ...); servers stop at teardown
  chromium     fixture (session): a headless Chromium driven by playwright (never `playwright install`)
  page         fixture: a fresh browser page, 1400x1600
  open_app, go_to, wait_for_text, box_select, plot_data, set_number, shot   helpers
Screenshots go to <repo>/test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text()[-n:] if self.log.is_file() else ""


def start_server(home: Path, extra_env: dict[str, str] | None = None, timeout: float = 60.0) -> Server:
    """`streamlit run dashboard/app.py` from the repo root (so .streamlit/config.toml applies),
    on a free port of 127.0.0.1, with TASKMAP_HOME = home; returns once /_stcore/health is ok."""
    port = free_port()
    log = Path(home) / f"streamlit-{port}.log"
    env = {**os.environ, "TASKMAP_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": str(REPO), **(extra_env or {})}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
                                    "--server.port", str(port)], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"streamlit did not become healthy in {timeout} s:\n{server.log_tail()}")


@pytest.fixture
def app_server():
    """start(home, extra_env=None) -> Server; every server started is stopped after the test."""
    started: list[Server] = []

    def start(home: Path, extra_env: dict[str, str] | None = None) -> Server:
        server = start_server(Path(home), extra_env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("TASKMAP_REQUIRE_BROWSER"):  # CI installs it: there a missing browser is a failure
            pytest.fail(f"{CHROMIUM} not installed but TASKMAP_REQUIRE_BROWSER is set")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


# --- helpers ---------------------------------------------------------------------------------

def shot(page, name: str) -> Path:
    """A screenshot of the page once Streamlit has finished drawing it (charts included)."""
    wait_idle(page)
    wait_charts(page)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_idle(page, timeout: float = 30.0) -> None:
    """Wait until Streamlit has finished the current run: no 'running' status widget and no
    element still marked stale from the previous run."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                           " && !document.querySelector('[data-stale=\"true\"]')", timeout=timeout * 1000)


def wait_charts(page, timeout: float = 30.0) -> None:
    """Wait until every Plotly chart on the page has been drawn (plotly.js loads lazily)."""
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
                           ".every(c => c.querySelector('.main-svg'))", timeout=timeout * 1000)


def wait_for_text(page, text: str, timeout: float = 30.0):
    """The first visible element showing `text` (tables keep hidden copies of cell text)."""
    locator = page.get_by_text(text, exact=False).filter(visible=True).first
    locator.wait_for(state="visible", timeout=timeout * 1000)
    return locator


def open_app(page, server: Server) -> None:
    page.goto(server.url)
    page.wait_for_selector('[data-testid="stSidebarNav"]')
    wait_idle(page)


def go_to(page, title: str) -> None:
    """Click a page in the sidebar navigation."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.wait_for_selector(f'h1:has-text("{title}")')
    wait_idle(page)


def plot_data(page, index: int = 0) -> dict:
    """The Plotly graph div's live data and layout (what the browser actually drew)."""
    return page.evaluate(
        """(i) => { const gd = document.querySelectorAll('.js-plotly-plot')[i];
                    return {data: gd._fullData.map(t => ({name: t.name, type: t.type, x: Array.from(t.x || []),
                                                          y: Array.from(t.y || []),
                                                          ids: Array.from(t.customdata || []).map(r => r && r.length !== undefined && typeof r !== 'string' ? r[0] : r)})),
                            annotations: (gd._fullLayout.annotations || []).map(a => a.text),
                            xrange: gd._fullLayout.xaxis.range, yrange: gd._fullLayout.yaxis.range}; }""",
        index)


def point_count(page, index: int = 0) -> int:
    """Points drawn by the index-th Plotly chart (0 while it is (re)mounting)."""
    return page.evaluate("""(i) => { const gd = document.querySelectorAll('.js-plotly-plot')[i];
                                    return gd && gd._fullData ? gd._fullData.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0; }""",
                         index)


def wait_for_points(page, at_least: int, index: int = 0, timeout: float = 30.0) -> int:
    """Wait until the index-th chart draws at least `at_least` points (charts redraw as a
    fragment polls the run's files); returns the count."""
    page.wait_for_function(
        """([i, n]) => { const gd = document.querySelectorAll('.js-plotly-plot')[i];
                         return !!(gd && gd._fullData) && gd._fullData.reduce((m, t) => m + (t.x ? t.x.length : 0), 0) >= n; }""",
        arg=[index, at_least], timeout=timeout * 1000)
    return point_count(page, index)


def box_select(page, frac_from: tuple[float, float], frac_to: tuple[float, float], index: int = 0) -> dict:
    """Drag a selection box over the plot area, corners given as fractions of its width and
    height from the top-left; returns the box in data coordinates {x0, x1, y0, y1}."""
    plot = page.locator(".js-plotly-plot").nth(index)
    plot.scroll_into_view_if_needed()
    area = plot.locator(".nsewdrag").first.bounding_box()
    drawn = plot_data(page, index)
    (x0r, x1r), (y0r, y1r) = drawn["xrange"], drawn["yrange"]
    start = (area["x"] + frac_from[0] * area["width"], area["y"] + frac_from[1] * area["height"])
    end = (area["x"] + frac_to[0] * area["width"], area["y"] + frac_to[1] * area["height"])
    page.mouse.move(*start)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(start[0] + (end[0] - start[0]) * step / 10, start[1] + (end[1] - start[1]) * step / 10)
    page.mouse.up()
    xs = sorted(x0r + f * (x1r - x0r) for f in (frac_from[0], frac_to[0]))
    ys = sorted(y1r - f * (y1r - y0r) for f in (frac_from[1], frac_to[1]))
    return {"x0": xs[0], "x1": xs[1], "y0": ys[0], "y1": ys[1]}


def set_number(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def set_text(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def table_column(page, column: int = 0, index: int = 0) -> list[str]:
    """Texts of one column of the index-th st.dataframe / st.data_editor (read from the grid's
    accessible cells, which glide-data-grid keeps in the DOM beside its canvas)."""
    grid = page.locator('[data-testid="stDataFrame"]').nth(index)
    grid.wait_for()
    cells = grid.locator(f'[data-testid^="glide-cell-{column}-"]')
    cells.first.wait_for(state="attached")
    found = cells.evaluate_all("els => els.map(e => [e.dataset.testid, e.textContent])")
    by_row = {int(testid.rsplit("-", 1)[1]): text for testid, text in found}
    return [by_row[r] for r in sorted(by_row)]


# --- the app around every page, and task text -------------------------------------------------------

def open_url(page, server: Server, path: str) -> None:
    """Open an address of the app directly (as a bookmark, a pasted link or a reload would)."""
    page.goto(f"{server.url}/{path.lstrip('/')}")
    page.wait_for_selector("h1")
    wait_idle(page)


def app_frame(page) -> dict:
    """What every page shares when it runs inside app.py: the grouped navigation (section
    headers and page links), the wide layout, the sidebar footer; and any exception box."""
    return page.evaluate("""() => {
        const nav = document.querySelector('[data-testid="stSidebarNav"]');
        const main = document.querySelector('[data-testid="stMainBlockContainer"]');
        const sidebar = document.querySelector('[data-testid="stSidebar"]');
        return {
            sections: nav ? [...nav.querySelectorAll('header, [data-testid="stNavSectionHeader"]')]
                                .map(h => h.innerText.trim()).filter(Boolean) : [],
            links: nav ? [...nav.querySelectorAll('a')].map(a => a.innerText.replace(/^\\S+\\n+/, '').trim()) : [],
            main_max_width: main ? getComputedStyle(main).maxWidth : null,
            main_width: main ? main.getBoundingClientRect().width : 0,
            footer: !!sidebar && sidebar.textContent.includes('Project home:'),
            exceptions: document.querySelectorAll('[data-testid="stException"]').length,
        }; }""")


def visible_text(page) -> str:
    """The page's visible text, without the invisible word joiners dashboard.text puts in URLs."""
    return page.evaluate("() => document.body.innerText").replace("\u2060", "")


def markup_from(page, words) -> list[str]:
    """Elements that task text became: anything carrying the injected class, link or image, any
    formula, and any element (HTML or SVG, Plotly's included) whose whole text is one of the
    injected marker words. Escaped text leaves the markers inside longer text, never alone."""
    return page.evaluate("""(words) => {
        const found = [];
        const sel = '.inj, a[href*="inj"], img[alt*="inj"], .katex, .katex-display, mjx-container';
        for (const el of document.querySelectorAll(sel)) found.push(el.outerHTML.slice(0, 200));
        for (const el of document.querySelectorAll('body *')) {
            const text = (el.textContent || '').trim();
            if (words.includes(text)) found.push(el.tagName + ': ' + text);
        }
        return found; }""", list(words))


def point_position(page, task_id: str, index: int = 0) -> tuple[float, float] | None:
    """Page coordinates of the map point whose customdata[0] is `task_id`."""
    return page.evaluate("""([id, i]) => {
        const gd = document.querySelectorAll('.js-plotly-plot')[i];
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
        for (const t of gd._fullData) {
            const k = (t.customdata || []).findIndex(r => r && r[0] === id);
            if (k >= 0) return [box.left + xa._offset + xa.l2p(t.x[k]), box.top + ya._offset + ya.l2p(t.y[k])];
        }
        return null; }""", [task_id, index])


def hover_text(page, task_id: str, index: int = 0) -> str:
    """Move the mouse onto a task's point and return the hover label's text."""
    page.locator(".js-plotly-plot").nth(index).scroll_into_view_if_needed()
    page.mouse.move(5, 5)
    position = point_position(page, task_id, index)
    assert position is not None, f"no point for {task_id!r}"
    page.mouse.move(*position)
    label = page.locator(".js-plotly-plot").nth(index).locator(".hoverlayer .hovertext").first
    label.wait_for(state="attached", timeout=10_000)
    return label.evaluate("el => el.textContent")


def legend_text(page, index: int = 0) -> str:
    return page.locator(".js-plotly-plot").nth(index).locator(".legend").first.evaluate("el => el.textContent")
