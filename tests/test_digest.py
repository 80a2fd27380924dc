"""python -m review digest end to end: a story product, a webhook served by this test, runs day
after day (first run, a status change, a failing server that recovers, nothing sent twice), and
the digest's HTML opened in Chromium."""

from __future__ import annotations

import html
import http.server
import json
import tempfile
import threading
from pathlib import Path

import pytest

from review import digest
from review.__main__ import main
from tests.test_report import CHROMIUM_ARGS, VISION, story_events

HOSTILE = '<img src="http://evil.example/x.png"> [link](http://evil.example) & <b>bold</b>'


class Hook(http.server.BaseHTTPRequestHandler):
    """A chat webhook: records every JSON body; answers 500 while ``fail`` is above zero."""

    received: list[dict] = []
    fail = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.fail > 0:
            cls.fail -= 1
            self.send_response(500)
            self.end_headers()
            return
        cls.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    Hook.received, Hook.fail = [], 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret"
    server.shutdown()
    server.server_close()


@pytest.fixture
def product(tmp_path, monkeypatch):
    """The story shop of test_report: weekly searches sit at 8 under an alert threshold of 9."""
    story_events().write_parquet(tmp_path / "events.parquet")
    (tmp_path / "sources.toml").write_text(
        'default = "story"\n[sources.story]\npath = "events.parquet"\nvision = "vision.toml"\n'
    )
    vision = VISION.replace('owner = "Lena"', 'owner = "Lena"\nalert_below = 9')
    vision = vision.replace('name = "Weekly active users"', f"name = {json.dumps(HOSTILE)}")
    (tmp_path / "vision.toml").write_text(vision)
    (tmp_path / "vision.annotations.toml").write_text(
        f'[[annotations]]\ndate = 2026-10-08\nkind = "release"\ntext = {json.dumps(HOSTILE)}\n'
        '[[annotations]]\ndate = 2026-09-01\nkind = "campaign"\ntext = "Back to school"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NORTHSTAR_SOURCES", raising=False)
    monkeypatch.setattr(digest, "BACKOFF_SECONDS", 0.0)
    return tmp_path


def set_target(folder: Path, kpi_name: str, old: str, new: str) -> None:
    """Move a KPI's target in the vision file, as a PM would in an editor."""
    path = folder / "vision.toml"
    text = path.read_text()
    at = text.index(kpi_name)
    end = text.index(old, at)
    path.write_text(text[:end] + new + text[end + len(old) :])


def run(day: str, hook: str | None, *extra: str) -> int:
    args = ["digest", "--as-of", day, "--out", "out"]
    return main(args + (["--webhook", hook] if hook else []) + list(extra))


def texts() -> list[str]:
    return [message["text"] for message in Hook.received]


def test_a_week_of_mornings(product, webhook, capsys):
    # Day 1, first run: statuses are recorded; the alert already due is posted, once.
    assert run("2026-10-12", webhook) == 0
    assert texts() == ["Story Shop: Weekly searches is below its alert threshold of 9: now 8"]
    first = (product / "out" / "digest-2026-10-12.md").read_text()
    assert "First run: every status is recorded now" in first
    assert "1 message(s) posted to the webhook." in first
    message = Hook.received[0]
    assert set(message) == {"text", "blocks"}
    assert message["blocks"][0]["type"] == "section"
    assert message["blocks"][0]["text"]["type"] == "mrkdwn"

    # The same morning again: nothing turned, nothing is posted twice.
    assert run("2026-10-12", webhook) == 0
    assert len(Hook.received) == 1

    # Day 2: the target of weekly active users moves out of reach: met -> off track.
    set_target(product, HOSTILE.replace('"', '\\"'), "target = 18", "target = 40")
    assert run("2026-10-13", webhook) == 0
    assert len(Hook.received) == 2
    change = Hook.received[1]
    # Slack reads &, < and > as markup: the KPI's name arrives as text.
    assert "Met → Off track" in change["text"]
    assert "&lt;img src=" in change["text"] and "<img" not in change["text"]
    assert "&amp; &lt;b&gt;bold&lt;/b&gt;" in change["blocks"][0]["text"]["text"]
    day2 = (product / "out" / "digest-2026-10-13.md").read_text()
    assert day2.index("### Status changes") < day2.index("### Biggest movers")
    assert day2.index("### Biggest movers") < day2.index("### Annotations since last time")
    assert "Met → Off track" in day2
    assert "No annotation since the last run." in day2

    # Day 3: the target comes back, but the webhook answers 500 to all three attempts.
    set_target(product, HOSTILE.replace('"', '\\"'), "target = 40", "target = 18")
    Hook.fail = 3
    assert run("2026-10-14", webhook) == digest.EXIT_UNDELIVERED
    assert len(Hook.received) == 2
    day3 = (product / "out" / "digest-2026-10-14.md").read_text()
    assert "Not delivered after 3 attempt(s) (HTTP 500 from http" in day3
    page = (product / "out" / "digest-2026-10-14.html").read_text()
    assert "Not delivered after 3 attempt(s) (HTTP 500 from http://127.0.0.1:" in page
    assert "secret" not in page
    assert "secret" not in day3  # the webhook's path is its secret
    assert "kept and retried at the next run" in day3
    state = json.loads((product / "out" / "state.json").read_text())
    assert [p["attempts"] for p in state["pending"]] == [3]
    assert "Not delivered" in capsys.readouterr().err

    # Day 4: the server has recovered; the owed message goes first, exactly once.
    assert run("2026-10-15", webhook) == 0
    assert len(Hook.received) == 3
    assert "Off track → Met" in Hook.received[2]["text"]
    state = json.loads((product / "out" / "state.json").read_text())
    assert state["pending"] == []
    assert len(state["sent"]) == 3

    # Day 5: nothing new: no post, and no message was ever posted twice.
    assert run("2026-10-16", webhook) == 0
    assert len(Hook.received) == 3
    assert len(set(texts())) == 3


def test_an_unreachable_webhook_is_retried_with_backoff_then_kept(product, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(digest, "BACKOFF_SECONDS", 0.5)
    ok, attempts, error = digest.post("http://127.0.0.1:9/hook", {"text": "x"}, sleep=waits.append)
    assert (ok, attempts) == (False, 3)
    assert error.startswith("could not connect")
    assert waits == [0.5, 1.0]


def test_a_webhook_in_the_vision_file_is_used_and_reported(product, webhook):
    path = product / "vision.toml"
    path.write_text(path.read_text().replace("[product]", f'[product]\nwebhook = "{webhook}"', 1))
    assert run("2026-10-12", None) == 0
    assert len(Hook.received) == 1


def test_a_webhook_in_sources_toml_comes_before_the_visions(product, webhook):
    path = product / "vision.toml"
    path.write_text(
        path.read_text().replace("[product]", '[product]\nwebhook = "http://127.0.0.1:9/"', 1)
    )
    (product / "sources.toml").write_text(
        (product / "sources.toml").read_text() + f'webhook = "{webhook}"\n'
    )
    assert run("2026-10-12", None) == 0
    assert len(Hook.received) == 1


def test_without_a_webhook_nothing_is_owed(product):
    assert run("2026-10-12", None) == 0
    state = json.loads((product / "out" / "state.json").read_text())
    assert state["pending"] == [] and state["sent"] == []
    assert "No webhook configured" in (product / "out" / "digest-2026-10-12.md").read_text()


def test_a_broken_product_is_reported_and_the_others_still_judged(product):
    (product / "sources.toml").write_text(
        (product / "sources.toml").read_text()
        + '[sources.other]\npath = "events.parquet"\nvision = "other.toml"\n'
        + '[sources.bad]\npath = "events.parquet"\nvision = "bad.toml"\n'
    )
    (product / "bad.toml").write_text(VISION.replace("target = 14", 'target = "14"'))
    assert run("2026-10-12", None) == digest.EXIT_PROBLEM
    text = html.unescape((product / "out" / "digest-2026-10-12.html").read_text())
    assert "Story Shop" in text and "Weekly searches is below its alert threshold" in text
    assert "Not judged: bad.toml: KPI 'weekly_buyers' (#1), field 'target': must be a" in text
    assert "Not judged: no vision file yet (other.toml" in text
    # Only one source: --source.
    assert run("2026-10-13", None, "--source", "story") == 0


def test_an_unreadable_state_stops_the_run(product, capsys):
    (product / "out").mkdir()
    (product / "out" / "state.json").write_text("{not json")
    assert run("2026-10-12", None) == digest.EXIT_PROBLEM
    assert "state file" in capsys.readouterr().err
    assert (product / "out" / "state.json").read_text() == "{not json"  # left as it was


@pytest.mark.browser
def test_the_digest_opens_in_a_real_browser(product, webhook):
    from playwright.sync_api import sync_playwright

    assert run("2026-10-12", webhook) == 0
    set_target(product, HOSTILE.replace('"', '\\"'), "target = 18", "target = 40")
    (product / "vision.annotations.toml").write_text(
        (product / "vision.annotations.toml").read_text()
        + '[[annotations]]\ndate = 2026-10-13\nkind = "incident"\ntext = "Checkout down 2 h"\n'
    )
    assert run("2026-10-13", webhook) == 0
    path = product / "out" / "digest-2026-10-13.html"
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1000, "height": 1600},
        )
        context.set_offline(True)
        requests: list[str] = []
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(path.as_uri())
        assert page.locator("h1").inner_text() == "Northstar morning digest · 13 Oct 2026"
        headings = page.locator("h3").all_inner_texts()
        assert [h.lower() for h in headings[:4]] == [
            "status changes",
            "threshold alerts",
            "biggest movers",
            "annotations since last time",
        ]
        change = page.locator("h3.changes + ul li").inner_text()
        assert change.startswith(HOSTILE) and "Met → Off track" in change
        notes = page.locator("h3.annotations + ul li").all_inner_texts()
        assert notes == ["13 Oct 2026 · Incident: Checkout down 2 h"]
        # Values from the files are text: no image, link or bold element came from them.
        assert page.locator("main img, main a, main b").count() == 0
        assert page.locator("script").count() == 0
        assert page.locator('tr[data-kpi="weekly_active"] td').first.inner_text() == HOSTILE
        assert page.locator("ul.delivery li").inner_text() == "1 message(s) posted to the webhook."
        assert [url for url in requests if not url.startswith("file:")] == []
        page.screenshot(
            path=str(Path(__file__).resolve().parents[1] / "screenshots" / "digest.png"),
            full_page=True,
        )
        context.close()
