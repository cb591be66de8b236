"""Fixtures for the browser tests: the real app as a subprocess and Debian's headless Chromium.

One app process serves the whole session (its start builds the index of a temp corpus and loads the
real model); it is always stopped at the end. Playwright never downloads a browser: it drives
/usr/bin/chromium. The app log is kept in artifacts/browser_app.log for failures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.eval.loadtest import free_port, serving

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 300  # the first start builds the index and loads the model on a slow shared CPU
VIEWPORT = {"width": 1366, "height": 900}

# An article whose text carries markup: the app must show it as text and never run it.
INJECTION_ARTICLE = """Halden maritime museum reopens after flood repairs
Published: 2025-11-20
Østfold Daily

The maritime museum in Halden was closed for eight months after the autumn flood, director Ingrid Solberg said.
The museum in Halden reopened on Saturday with a new exhibit on coastal shipping <script>alert(1)</script> and a \
restored ferry model <img src=x onerror="alert(2)"> in its main hall. Solberg said the repairs cost 3.5 million \
kroner, paid mostly by the municipality.
"""

# An article whose title is Markdown that would link to a phishing page and load a tracking image if the
# chat rendered it: it must show as text, link nothing and load nothing.
# Dated reports of one story from two outlets (two of them a wire copy), for the briefing test.
STRIKE_ARTICLES = {
    "varn-strike-1.txt": "Dockers strike at Port Varn\nPublished: 2025-03-03\nSource: Coastal Wire\n\n"
    "About 3,200 dockers at Port Varn walked out on Monday over pay. "
    "Union leader Mara Olsen said the Port Varn dockers wanted a 9% rise.",
    "varn-strike-2.txt": "Port Varn strike enters second week\nPublished: 2025-03-10\nSource: Metro Daily\n\n"
    "Talks at Port Varn between the union and the port owners failed on Sunday night.",
    "varn-strike-3.txt": "Port Varn strike over\nPublished: 2025-03-20\nSource: Valley Post\n\n"
    "The Port Varn strike ended on Thursday after the dockers accepted a 7% pay rise from the owners.",
    "varn-strike-4.txt": "Deal ends Port Varn walkout\nPublished: 2025-03-21\nSource: Coastal Wire\n\n"
    "The Port Varn strike ended on Thursday after dockers accepted a 7% pay rise from the owners.",
}
HOSTILE_TITLE = "[Verify your account](https://phish.example) ![](https://t.example/p.png) Putin visit"
HOSTILE_ID = "kazan_terminal.txt"
HOSTILE_ARTICLE = f"""{HOSTILE_TITLE}
Published: 2025-11-14
Volga Wire

Vladimir Putin opened a new airport terminal in Kazan on Thursday, the regional governor said. The Kazan \
terminal cost 12 billion roubles and will handle four million passengers a year.
"""


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """A copy of seeds/ plus the extra articles the tests ask about."""
    corpus = tmp_path_factory.mktemp("browser-corpus")
    for path in SEEDS.iterdir():
        if path.is_file():
            shutil.copy2(path, corpus / path.name)
    (corpus / "halden_museum.txt").write_text(INJECTION_ARTICLE, encoding="utf-8")
    (corpus / HOSTILE_ID).write_text(HOSTILE_ARTICLE, encoding="utf-8")
    for name, text in STRIKE_ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


@pytest.fixture(scope="session")
def hostile_article() -> tuple[str, str]:
    """(article id, title) of the corpus article whose title is written as a link and an image."""
    return HOSTILE_ID, HOSTILE_TITLE


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, corpus_dir) -> str:
    """Start `python app.py` on a free loopback port; yield its URL; always stop it."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing: apt-get install -y chromium (or `make browsers`)")
    index = tmp_path_factory.mktemp("browser-index")
    gradio_tmp = tmp_path_factory.mktemp("gradio-tmp")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "browser_app.log"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(gradio_tmp),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    command = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--corpus", str(corpus_dir), "--index", str(index)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not serving(url):
            if process.poll() is not None:
                pytest.fail(f"the app exited with code {process.returncode} before serving:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer {url} within {START_TIMEOUT_S} s:\n{_log_tail(log_path)}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser, app_url):
    """A factory of pages, each in its own browser context (its own user), loaded and ready."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []  # every alert/confirm the page tries to open
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(app_url)
        page.locator("#question textarea").wait_for(state="visible", timeout=60_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def chat_page(browser, app_url):
    """One page kept across the tests of a module: a conversation with follow-ups."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app_url)
    page.locator("#question textarea").wait_for(state="visible", timeout=60_000)
    yield page
    context.close()
