"""End-to-end: headless Chromium drives the real chat (real index, real local model) like a user would.

Slow by nature: every answer runs the 1.5B model on the CPU. Each wait is explicit (the final answer
no longer ends with the streaming cursor and the sources panel shows the cited sources, or the chat
says the articles do not answer); there are no fixed sleeps.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.embedder]  # the app loads both

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SEED_ID = "000_34dd6e6ea37e3941.txt"
SEED_TITLE = "Putin rejects US deal on Ukraine as NATO minister meet"
SEED_DATE = "2025-12-03"
VIEWPORT_WIDTH = 1366
ANSWER_TIMEOUT_MS = int(float(os.environ.get("BROWSER_ANSWER_TIMEOUT_S", "240")) * 1000)
BOT = '#chat [data-testid="bot"]'
USER = '#chat [data-testid="user"]'

# Watches the page every 25 ms and records what a user saw: the queue message, the answer being
# prepared or streamed, and source cards shown while the answer was still pending (with timestamps).
RECORDER_JS = """
() => {
  if (window.__recorderTimer) clearInterval(window.__recorderTimer);
  const seen = {waiting: null, answering: null, cardsWhilePending: false, placeholders: []};
  window.__seen = seen;
  const stretch = (key, now) => {
    if (!seen[key]) seen[key] = [now, now]; else seen[key][1] = now;
  };
  window.__recorderTimer = setInterval(() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
    const now = Date.now();
    const waiting = text.includes('Waiting in the queue');
    const answering = text.endsWith('▌') || /Searching the articles|Writing the answer/.test(text);
    if (waiting) stretch('waiting', now);
    if (answering) stretch('answering', now);
    if ((waiting || answering) && !seen.placeholders.includes(text.slice(0, 40))) {
      seen.placeholders.push(text.slice(0, 40));
    }
    if ((waiting || answering) && document.querySelectorAll('#sources .src-card').length > 0) {
      seen.cardsWhilePending = true;
    }
  }, 25);
}
"""

# True once the newest answer (bubble number `count`) is final, not a placeholder or a streaming draft.
FINAL_JS = """
(count) => {
  const bots = document.querySelectorAll('#chat [data-testid="bot"]');
  if (bots.length < count) return false;
  const text = bots[bots.length - 1].innerText.trim();
  if (!text || text.endsWith('▌')) return false;
  if (/Waiting in the queue|Searching the articles|Writing the answer/.test(text)) return false;
  const sources = document.querySelector('#sources').innerText;
  return sources.includes('Cited sources') || text.includes('do not answer') || text.startsWith('⚠️');
}
"""


# True when the element is fully visible: inside the window and inside the scrolled sources panel.
IN_VIEW_JS = """
(selector) => {
  const r = document.querySelector(selector).getBoundingClientRect();
  const p = document.querySelector('#sources').getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight
    && r.top >= p.top - 1 && r.bottom <= p.bottom + 1;
}
"""


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"'))


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def ask(page: Page, question: str) -> int:
    """Type the question, start the recorder, press Ask; return the number the answer bubble will have."""
    expected = page.locator(BOT).count() + 1
    page.locator("#question textarea").fill(question)
    page.evaluate(RECORDER_JS)
    page.locator("#ask").click()
    return expected


def wait_for_answer(page: Page, count: int, timeout_ms: int = ANSWER_TIMEOUT_MS) -> str:
    """Wait until answer `count` is final; return its text (curly quotes straightened)."""
    try:
        page.wait_for_function(FINAL_JS, arg=count, timeout=timeout_ms, polling=250)
    except Exception as error:  # noqa: BLE001 - add what the page showed to the failure
        last = page.locator(BOT).last.inner_text() if page.locator(BOT).count() else "(no answer bubble)"
        raise AssertionError(f"no final answer within {timeout_ms / 1000:.0f} s; the chat shows: {last!r}") from error
    text = normalise(page.locator(BOT).last.inner_text())
    assert not text.startswith("⚠️"), f"the app reported an error: {text}"
    return text


def seen(page: Page) -> dict:
    return page.evaluate("() => window.__seen")


def cited_cards(page: Page):
    """Source cards under "Cited sources" (the dimmed ones are retrieved but not cited)."""
    return page.locator("#sources .src-card:not(.src-dim)")


def article_count(page: Page) -> int:
    match = re.search(r"([\d,]+) articles", page.locator("#status").inner_text())
    assert match, page.locator("#status").inner_text()
    return int(match.group(1).replace(",", ""))


def in_view(page: Page, selector: str) -> bool:
    return page.evaluate(IN_VIEW_JS, selector)


# ---------------------------------------------------------------- 1-2: one conversation


def test_ushakov_answer_cites_seed_article_and_marker_scrolls_to_card(chat_page: Page):
    page = chat_page
    count = ask(page, "What did Ushakov say about compromise?")
    answer = wait_for_answer(page, count)

    record = seen(page)
    assert record["cardsWhilePending"], f"no source card was shown before the answer was final: {record}"
    assert "compromise hasn't been found" in answer, answer

    bubble = page.locator(BOT).last
    markers = bubble.locator('a[href^="#src-"]')
    assert markers.count() >= 1, f"no [n] marker link in the answer: {bubble.inner_html()}"
    hrefs = [markers.nth(i).get_attribute("href") for i in range(markers.count())]
    for href in hrefs:
        expect(page.locator(f"#sources {href}.src-card")).to_have_count(1)
    href = hrefs[0]
    card = page.locator(f"#sources {href}")
    expect(card.locator(".src-head")).to_contain_text(SEED_TITLE)
    expect(card.locator(".src-meta")).to_contain_text(SEED_DATE)
    expect(card.locator(".src-meta")).to_contain_text(SEED_ID)
    expect(card.locator(".src-text mark")).not_to_have_count(0)

    # Clicking [n] brings card n into view and flashes it. First hide the card: a short window, the
    # uncited passages opened so the sources panel scrolls, the panel scrolled to its end.
    selector = f"#sources {href}"
    page.set_viewport_size({"width": VIEWPORT_WIDTH, "height": 600})
    uncited = page.locator("#sources details.src-uncited")
    if uncited.count():
        uncited.locator("summary").click()
        expect(uncited).to_have_attribute("open", "")
    overflow = page.evaluate(
        """() => { const panel = document.querySelector('#sources');
                   panel.scrollTop = panel.scrollHeight;
                   return {taller: panel.scrollHeight > panel.clientHeight + 1, scrolled: panel.scrollTop > 0}; }"""
    )
    if overflow["taller"]:  # the panel must scroll, not spill its cards over the accordions below it
        assert overflow["scrolled"], "the sources panel does not scroll: its cards overflow the page layout"
        assert not in_view(page, selector), "the card should start out of view"
    markers.first.click()
    page.wait_for_function(
        "(sel) => document.querySelector(sel).classList.contains('flash')", arg=selector, timeout=5_000
    )
    page.wait_for_function(IN_VIEW_JS, arg=selector, timeout=10_000)
    box = page.locator(selector).bounding_box()
    viewport = page.viewport_size
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (box, viewport)
    screenshot(page, "browser_1_ushakov.png")
    page.set_viewport_size({"width": VIEWPORT_WIDTH, "height": 900})

    # The highlighted supporting sentence of a cited card is the one that answers the question.
    marks = " ".join(
        text for h in dict.fromkeys(hrefs) for text in page.locator(f"#sources {h} .src-text mark").all_inner_texts()
    ).lower()
    assert "compromise" in marks, f"the highlighted sentence(s) do not hold the answer: {marks!r}"


def test_follow_up_uses_conversation_then_new_chat_clears_it(chat_page: Page):
    page = chat_page
    if page.locator(BOT).count() == 0:
        pytest.skip("needs the conversation of the previous test")
    count = ask(page, "How long did those talks last?")
    answer = wait_for_answer(page, count)
    expect(page.locator(BOT).last.locator("sub")).to_contain_text("Searched for:")
    cards = cited_cards(page)
    cited_articles = [cards.nth(i).get_attribute("data-article") for i in range(cards.count())]
    screenshot(page, "browser_2_follow_up.png")

    # New chat empties the conversation and the sources panel (checked before the answer's content,
    # so a wrong answer does not hide a broken button).
    page.locator("#new-chat").click()
    expect(page.locator(BOT)).to_have_count(0)
    expect(page.locator(USER)).to_have_count(0)
    expect(page.locator("#sources .src-card")).to_have_count(0)
    expect(page.locator("#sources")).to_contain_text("Sources will appear here.")
    screenshot(page, "browser_2_new_chat.png")

    assert "five hours" in answer.lower() or "5 hours" in answer.lower(), answer
    assert SEED_ID in cited_articles, f"no cited card from the seed article: {cited_articles}; answer: {answer}"


# ---------------------------------------------------------------- 3: adding articles


def test_upload_indexes_a_new_article_and_rejects_bad_files(new_page, tmp_path):
    page = new_page()
    good = tmp_path / "wexbridge_budget.txt"
    good.write_text(
        "Wexbridge council approves record budget\n"
        "Published: 2025-11-28\n"
        "Wexbridge Courier\n"
        "\n"
        "The town council of Wexbridge approved a budget of 42 million pounds on Tuesday, council leader "
        "Margaret Thornbury said. Thornbury said the money would pay for new flood defences and two libraries.\n",
        encoding="utf-8",
    )
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)

    before = article_count(page)
    page.get_by_text("Add articles", exact=True).click()
    upload = page.locator("#upload")
    upload.locator("input[type=file]").set_input_files(str(good))
    expect(upload.locator('td.filename[aria-label="wexbridge_budget.txt"]')).to_be_visible(timeout=30_000)
    page.locator("#add-articles").click()
    log = page.locator("#upload-log textarea")
    # The upload returns at once; the indexing runs in the background and its outcome joins the log.
    expect(log).to_have_value(re.compile(r"Indexing 1 file\(s\) in the background"), timeout=60_000)
    expect(log).to_have_value(re.compile(r"Indexed: 1 added"), timeout=ANSWER_TIMEOUT_MS)
    expect(log).to_have_value(re.compile(r"✓ wexbridge_budget\.txt: saved as uploads/wexbridge_budget\.txt"))
    expect(page.locator("#status")).to_contain_text(f"{before + 1:,} articles", timeout=30_000)
    after = article_count(page)
    assert after == before + 1

    # Bad files are refused one by one with the reason; nothing is indexed.
    upload.locator('button[aria-label="Clear"]').click()
    expect(upload.locator("td.filename")).to_have_count(0)
    upload.locator("input[type=file]").set_input_files([str(empty), str(binary)])
    expect(upload.locator("td.filename")).to_have_count(2, timeout=30_000)
    page.locator("#add-articles").click()
    expect(log).to_have_value(re.compile(r"✗ binary\.txt: rejected"), timeout=ANSWER_TIMEOUT_MS)
    expect(log).to_have_value(re.compile(r"✗ empty\.txt: rejected"))
    assert "Indexed" not in log.input_value()
    assert article_count(page) == after

    # The index still answers, from the uploaded article.
    count = ask(page, "What budget did the Wexbridge council approve?")
    answer = wait_for_answer(page, count)
    assert "42 million" in answer, answer
    uploaded = page.locator('#sources .src-card:not(.src-dim)[data-article="uploads/wexbridge_budget.txt"]')
    expect(uploaded).not_to_have_count(0)
    expect(uploaded.first.locator(".src-meta")).to_contain_text("uploads/wexbridge_budget.txt")
    screenshot(page, "browser_3_upload.png")


# ---------------------------------------------------------------- 4: article markup never runs


def test_markup_in_articles_is_shown_as_text_and_never_runs(new_page):
    page = new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    count = ask(page, "When did the museum in Halden reopen?")
    answer = wait_for_answer(page, count)

    sources = page.locator("#sources")
    assert "<script>alert(1)</script>" in sources.inner_text(), sources.inner_text()
    assert '<img src=x onerror="alert(2)">' in sources.inner_text(), sources.inner_text()
    for area in ("#sources", "#chat"):
        expect(page.locator(f"{area} script")).to_have_count(0)
        expect(page.locator(f'{area} img[src="x"]')).to_have_count(0)
    assert page.dialogs == [], f"the page opened dialogs: {page.dialogs}"
    assert not [url for url in requests if url.rstrip("/").endswith("/x")], "the injected <img> was loaded"
    assert "saturday" in answer.lower(), answer
    screenshot(page, "browser_4_injection.png")


# ---------------------------------------------------------------- 5: several users at once

QUESTIONS = [
    ("What did Ushakov say about compromise?", ("compromise",)),
    ("What did von der Leyen say about coal imports?", ("coal", "51")),
    ("Who is NATO's Secretary-General?", ("Rutte",)),
    ("Where did the NATO foreign ministers meet?", ("Brussels",)),
]


def test_four_users_at_once_each_get_their_own_answer(new_page):
    pages = [new_page() for _ in QUESTIONS]
    for page, (question, _) in zip(pages, QUESTIONS, strict=True):
        page.locator("#question textarea").fill(question)
        page.evaluate(RECORDER_JS)
    for page in pages:  # all at once: the model answers one at a time, the others wait in the queue
        page.locator("#ask").click()

    deadline = time.monotonic() + len(pages) * ANSWER_TIMEOUT_MS / 1000
    answers = []
    for page in pages:
        remaining_ms = max(1_000, int((deadline - time.monotonic()) * 1000))
        answers.append(wait_for_answer(page, 1, timeout_ms=remaining_ms))
    records = [seen(page) for page in pages]

    for number, (page, (question, expected), answer) in enumerate(zip(pages, QUESTIONS, answers, strict=True), 1):
        screenshot(page, f"browser_5_user{number}.png")
        expect(page.locator(USER)).to_have_count(1)
        expect(page.locator(USER)).to_have_text(question)
        expect(page.locator(BOT)).to_have_count(1)
        assert any(word.lower() in answer.lower() for word in expected), f"tab {number} ({question}): {answer}"
        assert "do not answer" not in answer, f"tab {number} ({question}): {answer}"
        cards = cited_cards(page)
        assert cards.count() >= 1, f"tab {number}: no cited card"
        assert SEED_ID in [cards.nth(i).get_attribute("data-article") for i in range(cards.count())]

    overlaps = [
        (i + 1, j + 1)
        for i, waiting in enumerate(records)
        for j, answering in enumerate(records)
        if i != j
        and waiting["waiting"]
        and answering["answering"]
        and waiting["waiting"][0] <= answering["answering"][1]
        and answering["answering"][0] <= waiting["waiting"][1]
    ]
    assert overlaps, f"no tab showed 'Waiting in the queue' while another was answering: {records}"


# ---------------------------------------------------------------- 6: a question about the collection


def test_how_many_articles_mention_a_name_is_counted_and_each_cited(new_page, corpus_dir):
    page = new_page()
    count = ask(page, "How many articles mention Putin?")
    answer = wait_for_answer(page, count)
    match = re.search(r'(\d+) articles? in the corpus mentions? "Putin"', answer)
    # The rule the count follows: the whole word, in any case, in an article's title or text (uploads included).
    articles = [p for p in corpus_dir.rglob("*") if p.is_file()]
    mentioning = [p.name for p in articles if re.search(r"(?<!\w)putin(?!\w)", p.read_text(), re.I)]
    assert match and int(match.group(1)) == len(mentioning) >= 1, (answer, mentioning)
    cards = cited_cards(page)
    assert cards.count() == min(int(match.group(1)), 5), page.locator("#sources").inner_html()
    cited = [cards.nth(i).get_attribute("data-article") for i in range(cards.count())]
    assert SEED_ID in cited, cited
    seed_card = page.locator(f"#sources .src-card[data-article='{SEED_ID}']").first
    expect(seed_card.locator(".src-text mark")).to_contain_text("Putin")
    screenshot(page, "browser_6_count.png")


# ---------------------------------------------------------------- 7: a title written as Markdown stays text


def test_an_article_title_written_as_links_and_images_shows_as_text_and_loads_nothing(new_page, hostile_article):
    hostile_id, hostile_title = hostile_article
    page = new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    count = ask(page, "How many articles mention Putin?")  # counted without the model: the title is listed
    answer = wait_for_answer(page, count)
    assert hostile_title in answer, answer
    hostile_card = page.locator(f"#sources .src-card[data-article='{hostile_id}']")
    expect(hostile_card.first.locator(".src-head")).to_contain_text(hostile_title)

    count = ask(page, "How much did the Kazan terminal cost?")
    answer = wait_for_answer(page, count)
    assert "12 billion" in answer, answer
    cited = cited_cards(page)
    assert hostile_id in [cited.nth(i).get_attribute("data-article") for i in range(cited.count())]
    expect(hostile_card.first.locator(".src-head")).to_contain_text(hostile_title)

    for bubble in page.locator(BOT).all():
        expect(bubble.locator("a:not([href^='#src-'])")).to_have_count(0)  # the only links are the markers
    expect(page.locator("a[href*='phish.example']")).to_have_count(0)
    expect(page.locator("img[src*='t.example']")).to_have_count(0)
    assert not [url for url in requests if "t.example" in url or "phish.example" in url], requests
    screenshot(page, "browser_7_hostile_title.png")


# ---------------------------------------------------------------- 8: a briefing across dated articles


def test_a_briefing_lists_dated_facts_in_order_each_cited_to_every_outlet_stating_it(new_page):
    page = new_page()
    page.locator("#briefing input").check()  # the toggle: the question alone names no briefing
    count = ask(page, "the Port Varn strike")
    answer = wait_for_answer(page, count)
    dates = re.findall(r"(\d{1,2} Mar 2025) - ", answer)
    assert len(dates) >= 3, answer
    days = [int(d.split()[0]) for d in dates]
    assert days == sorted(days), answer  # oldest first
    bubble = page.locator(BOT).last
    assert bubble.locator("li").count() == len(dates)  # rendered as a list, one fact an item
    ended = next(item for item in bubble.locator("li").all_inner_texts() if "strike ended" in item)
    assert len(re.findall(r"\[\d+\]", ended)) == 2, ended  # the wire copy: both outlets cited
    cited = [cited_cards(page).nth(i).get_attribute("data-article") for i in range(cited_cards(page).count())]
    assert {"varn-strike-3.txt", "varn-strike-4.txt"} <= set(cited), cited
    assert all(name.startswith("varn-strike-") for name in cited), cited
    screenshot(page, "browser_8_briefing.png")
