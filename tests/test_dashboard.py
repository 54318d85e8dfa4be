"""``wqm dashboard``: the page in a real browser, its security rules, /metrics, and its data.

Everything is real: the workspace service runs as a process started by the real
``wqm`` executable, the page is driven in Debian's Chromium by Playwright
(``scripts/setup`` installs the browser; nothing is downloaded by Playwright),
and alias changes are made by ``wqm`` subprocesses while the page is open. Bad
requests are sent over raw sockets, byte for byte.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from _project_support import opened, seed_project
from conftest import git, run_wqm
from workspace_qdrant_mcp.backends.service import stop_service
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import store
from workspace_qdrant_mcp.core.identity import detect_identity
from workspace_qdrant_mcp.core.migrations import SCHEMA_VERSION
from workspace_qdrant_mcp.core.naming import new_physical_name
from workspace_qdrant_mcp.core.runfiles import ServicePaths, read_pid_info
from workspace_qdrant_mcp.core.schema import vectors_config
from workspace_qdrant_mcp.ops import registry

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWS = ("projects", "graph", "usage", "history", "doctor")
WAIT_MS = 30_000
Factory = Callable[..., Path]


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (Debian's package; see scripts/setup)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (scripts/setup installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def svc(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The service on for this test's data dir (``wqm`` subprocesses start it); stopped after."""
    monkeypatch.setenv("WQM_SERVICE", "auto")
    settings = Settings.from_env()
    yield settings
    stop_service(settings)


class Page:
    """A browser page on the dashboard, recording every request it makes."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error"
                     else None)
        self.response = self.page.goto(url)

    def ready(self) -> None:
        """Loaded and listening for changes."""
        self.page.wait_for_selector('body[data-loaded="1"]', timeout=WAIT_MS)
        self.page.wait_for_selector('#live[data-state="live"]', timeout=WAIT_MS)

    def view(self, name: str) -> None:
        self.page.click(f'nav [data-view="{name}"]')
        self.page.wait_for_selector(f"#view-{name}:not([hidden])", timeout=WAIT_MS)

    def close(self) -> None:
        self.context.close()


def open_link(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``wqm dashboard --format json`` in a real subprocess."""
    done = run_wqm("dashboard", "--format", "json", *args, env=env)
    assert done.returncode == 0, done.stderr
    link: dict[str, Any] = json.loads(done.stdout)
    return link


def http(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` bytes to the dashboard and read the whole reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


def get(port: int, target: str, host: str | None = None, extra: str = "") -> tuple[
        int, dict[str, str], bytes]:
    """A GET with a correct Host unless told otherwise."""
    host = host or f"127.0.0.1:{port}"
    return http(port, f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())


def post(port: int, path: str, token: str, body: bytes, headers: str = "") -> tuple[
        int, dict[str, str], bytes]:
    """A POST with the token in the query string."""
    return http(port, (
        f"POST {path}?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body)


def csrf_of(port: int, token: str) -> str:
    """The CSRF token the page is given (in a meta tag of the HTML)."""
    status, _, body = get(port, f"/?token={token}")
    assert status == 200
    found = re.search(rb'name="wqm-csrf" content="([^"]+)"', body)
    assert found is not None
    return found.group(1).decode()


def screenshot_each_view(page: Page, folder: Path, prefix: str) -> None:
    """A PNG of every view, checked to be a real, non-trivial picture."""
    for name in VIEWS:
        page.view(name)
        path = folder / f"{prefix}-{name}.png"
        page.page.screenshot(path=str(path), full_page=True)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width == 1280 and height >= 860, (name, width, height)
        assert len(data) > 15_000, f"{name}: a {len(data)}-byte screenshot is suspiciously plain"


def history_json() -> list[dict[str, Any]]:
    done = run_wqm("project", "history", "--all", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


# -- the page in a browser --------------------------------------------------------------------


def test_the_page_loads_with_its_token_only_and_fetches_nothing_else(
    svc: Settings, browser: Any, make_repo: Factory
) -> None:
    seed_project(svc, make_repo("proj"))
    link = open_link()
    origin = f"http://127.0.0.1:{link['port']}"
    assert link["url"].startswith(f"{origin}/?token=") and len(link["token"]) >= 40

    page = Page(browser, link["url"])
    try:
        assert page.response.status == 200
        headers = page.response.headers
        csp = headers["content-security-policy"]
        for rule in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
            assert rule in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert not [h for h in headers if h.startswith("access-control-")]
        page.ready()
        assert page.page.title() == "wqm dashboard"
        assert page.page.locator("#readonly").is_hidden()
        page.page.wait_for_selector('#view-projects .project', timeout=WAIT_MS)
        assert all(u.startswith(origin + "/") for u in page.requests), page.requests
        assert page.problems == []  # no CSP violation, no script error
    finally:
        page.close()

    for url in (f"{origin}/", f"{origin}/?token=wrong", f"{origin}/static/app.js",
                f"{origin}/api/projects?token={link['token'][:-1]}"):
        other = Page(browser, url)
        try:
            assert other.response.status == 403, url
            assert b"Traceback" not in other.response.body()
        finally:
            other.close()


def test_cli_changes_show_without_reload_and_graph_shows_a_migrated_project(
    svc: Settings, browser: Any, make_repo: Factory, tmp_path: Path
) -> None:
    repo = make_repo("widget", files={"README.md": "# widget\nSwitch names without copying.\n",
                                      "src/app.py": "def get_user_name():\n    return 'w'\n"})
    ingested = run_wqm("ingest", str(repo))
    assert ingested.returncode == 0, ingested.stderr
    path_name = detect_identity(repo).path_name
    link = open_link()
    page = Page(browser, link["url"])
    try:
        page.ready()
        page.view("graph")
        page.page.wait_for_selector(f'g.node[data-name="{path_name}"]', timeout=WAIT_MS)
        physical = page.page.get_attribute(f'path.edge[data-from="{path_name}"]', "data-to")
        assert physical and physical.startswith("wqm_")
        page.page.evaluate("window.__sameDocument = 'yes'")

        git(repo, "remote", "add", "origin", "https://github.com/acme/widget.git")
        remote_name = detect_identity(repo).remote_name
        assert remote_name == "_github_com_acme_widget"
        moved = run_wqm("project", "update-remote", "--yes", "-p", str(repo))
        assert moved.returncode == 0, moved.stderr

        # Both names of the migrated project point at one collection, with no reload.
        page.page.wait_for_selector(
            f'path.edge[data-from="{remote_name}"][data-to="{physical}"]', timeout=WAIT_MS)
        assert page.page.get_attribute(f'path.edge[data-from="{path_name}"]', "data-to") \
            == physical
        assert page.page.locator("g.coll").count() == 1
        assert page.page.evaluate("window.__sameDocument") == "yes"
        page.view("projects")
        card = page.page.locator(".project").first
        assert card.locator(f'li[data-name="{remote_name}"] .badge.current').count() == 1
        assert card.locator(f'li[data-name="{path_name}"] .badge.path').count() == 1
        page.view("history")
        change = page.page.locator("ol.timeline > li.undo-target")
        assert change.locator(".who").inner_text().startswith("by cli")
        assert remote_name in change.inner_text()
        screenshot_each_view(page, tmp_path, "migrated")

        undone = run_wqm("project", "undo", "--yes", "-p", str(repo))
        assert undone.returncode == 0, undone.stderr
        page.page.wait_for_selector(  # the history view is not shown: attached, not visible
            "ol.timeline > li.undo-target .badge:text-matches('undo of #')", state="attached",
            timeout=WAIT_MS)
        page.view("graph")
        page.page.wait_for_selector(f'g.node[data-name="{remote_name}"]', state="detached",
                                    timeout=WAIT_MS)
        assert page.page.evaluate("window.__sameDocument") == "yes"
        screenshot_each_view(page, tmp_path, "undone")
        assert page.problems == []
    finally:
        page.close()


def test_actions_run_the_cli_operations_as_dashboard_after_a_confirmation(
    svc: Settings, browser: Any, make_repo: Factory, tmp_path: Path
) -> None:
    data = seed_project(svc, make_repo("proj"))
    with opened(svc) as ws:  # an alias made behind wqm's back: doctor finds it
        store.apply_alias_operations(ws.client, [("_external_name", None, data["physical"])])
    link = open_link()
    page = Page(browser, link["url"])
    try:
        page.ready()
        page.view("doctor")
        page.page.wait_for_selector(".finding:has-text('_external_name')", timeout=WAIT_MS)
        page.page.click('button[data-action="doctor-fix"]')
        page.page.click("#confirm-cancel")  # cancelled: nothing happens
        assert page.page.locator(".banner.bad").count() == 1
        page.page.click('button[data-action="doctor-fix"]')
        page.page.click("#confirm-ok")
        page.page.wait_for_selector(".banner.ok", timeout=WAIT_MS)

        page.view("usage")
        page.page.click('tr[data-name="_external_name"] button[data-action="remove"]')
        page.page.wait_for_selector("#confirm[open]", timeout=WAIT_MS)
        assert "Other names of that data" in page.page.inner_text("#confirm-steps")
        page.page.click("#confirm-ok")
        page.page.wait_for_selector('tr[data-name="_external_name"]', state="detached",
                                    timeout=WAIT_MS)

        page.view("history")
        page.page.click('li.undo-target button[data-action="undo"]')
        page.page.click("#confirm-ok")
        page.page.wait_for_selector("li.undo-target .badge:text-matches('undo of #')",
                                    timeout=WAIT_MS)
        screenshot_each_view(page, tmp_path, "actions")
        assert page.problems == []
    finally:
        page.close()

    events = history_json()
    by_dashboard = [(e["action"], e["alias_name"], e["reason"]) for e in events
                    if e["actor"] == "dashboard"]
    assert ("adopt", "_external_name", "reconcile") in by_dashboard
    assert ("delete", "_external_name", "remove-alias") in by_dashboard
    assert any(a == "create" and n == "_external_name" and r and r.startswith("undo of change")
               for a, n, r in by_dashboard)
    aliases = json.loads(run_wqm("project", "list-aliases", "--all", "--format", "json").stdout)
    restored = next(a for a in aliases if a["alias_name"] == "_external_name")
    # The undo put the alias back as it was (who made it and why), not as the undo's own.
    assert restored["created_by"] == "external"
    assert restored["metadata"] == {"adopted_by": "reconcile"}


def test_a_read_only_session_shows_no_actions_and_refuses_them(
    svc: Settings, browser: Any, make_repo: Factory
) -> None:
    seed_project(svc, make_repo("proj"))
    link = open_link(env={"WQM_DASHBOARD_READONLY": "1"})
    assert link["read_only"] is True
    page = Page(browser, link["url"])
    try:
        page.ready()
        assert page.page.locator("#readonly").is_visible()
        for name in VIEWS:
            page.view(name)
        assert page.page.locator("button[data-action]").count() == 0
    finally:
        page.close()
    port, token = link["port"], link["token"]
    status, _, body = post(port, "/api/doctor-fix", token, b"{}",
                           f"X-WQM-CSRF: {csrf_of(port, token)}\r\n")
    assert status == 403 and b"read-only" in body
    writable = open_link()
    assert writable["read_only"] is False and writable["port"] == port  # one server, two sessions


# -- bad input --------------------------------------------------------------------------------


def test_bad_requests_get_4xx_without_traceback_and_the_service_keeps_serving(
    svc: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj")
    seed_project(svc, repo)
    link = open_link()
    port, token = link["port"], link["token"]
    csrf = csrf_of(port, token)
    ok = f"/api/projects?token={token}"
    cases: dict[str, tuple[int, tuple[int, dict[str, str], bytes]]] = {
        "no token": (403, get(port, "/api/projects")),
        "wrong token": (403, get(port, "/api/projects?token=" + "A" * 43)),
        "foreign host (DNS rebinding)": (403, get(port, ok, host=f"attacker.example:{port}")),
        "right host, wrong port": (403, get(port, ok, host="127.0.0.1:1")),
        "unknown path": (404, get(port, f"/etc/passwd?token={token}")),
        "path traversal": (404, get(port, f"/static/../app.py?token={token}")),
        "bad method": (405, http(port, f"DELETE {ok} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
                                 .encode())),
        "oversized head": (431, get(port, ok, extra=f"X-Pad: {'x' * 20000}\r\n")),
        "oversized body": (413, http(port, (
            f"POST /api/undo?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Length: 10000000\r\nX-WQM-CSRF: {csrf}\r\n\r\n").encode())),
        "chunked body": (411, http(port, (
            f"POST /api/undo?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode())),
        "garbage": (400, http(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")),
        "action by GET": (405, get(port, f"/api/undo?token={token}")),
        "action without CSRF": (403, post(port, "/api/doctor-fix", token, b"{}")),
        "action with wrong CSRF": (403, post(port, "/api/doctor-fix", token, b"{}",
                                             "X-WQM-CSRF: nope\r\n")),
        "action from another origin": (403, post(
            port, "/api/doctor-fix", token, b"{}",
            f"X-WQM-CSRF: {csrf}\r\nOrigin: http://attacker.example\r\n")),
        "action, not JSON": (400, post(port, "/api/undo", token, b"{nope",
                                       f"X-WQM-CSRF: {csrf}\r\n")),
        "undo with nothing to undo": (404, post(
            port, "/api/undo", token, b'{"change_id": 999}', f"X-WQM-CSRF: {csrf}\r\n")),
        "bad parameter": (400, get(port, f"/api/usage?days=100000&token={token}")),
        "metrics without token": (403, get(port, "/metrics")),
    }
    for what, (expected, (status, headers, body)) in cases.items():
        assert status == expected, (what, status, body[:200])
        assert b"Traceback" not in body and b'File "' not in body, what
        assert not [h for h in headers if h.startswith("access-control-")], what
        assert headers.get("x-content-type-options") == "nosniff", what
        if body:
            assert json.loads(body)["status"] == expected, what

    status, _, _ = get(port, ok)  # the dashboard still answers
    assert status == 200
    done = run_wqm("status", str(repo), "--format", "json")  # and the CLI, through the service
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["points"] == 5
    log = ServicePaths.for_settings(svc).log_file.read_text()
    assert "Traceback" not in log
    assert token not in log  # paths are logged, never the query string


def test_metrics_are_prometheus_text_behind_the_token(svc: Settings, make_repo: Factory) -> None:
    seed_project(svc, make_repo("proj"), points=7)
    link = open_link()
    port, token = link["port"], link["token"]
    assert run_wqm("project", "list-aliases").returncode == 0  # one timed socket request
    status, headers, body = get(port, "/metrics", extra=f"Authorization: Bearer {token}\r\n")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    sample = re.compile(r'^[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [-+0-9.eInf]+$')
    families: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            families[name] = kind
        elif not line.startswith("# HELP "):
            assert sample.match(line), line
    for name, kind in {"wqm_aliases": "gauge", "wqm_projects": "gauge",
                       "wqm_collection_points": "gauge", "wqm_alias_searches_total": "counter",
                       "wqm_alias_events_total": "counter", "wqm_alias_changes": "gauge",
                       "wqm_recovered_changes_total": "counter",
                       "wqm_reconcile_repairs_total": "counter",
                       "wqm_service_uptime_seconds": "gauge",
                       "wqm_request_duration_seconds": "histogram"}.items():
        assert families.get(name) == kind, name
    assert re.search(r'^wqm_collection_points\{collection="wqm_[0-9a-f]{16}",project_root="[^"]+'
                     r'proj"\} 7$', text, re.MULTILINE)
    assert re.search(r'^wqm_alias_events_total\{action="create"\} 1$', text, re.MULTILINE)
    assert re.search(r'^wqm_request_duration_seconds_count\{op="list_aliases",via="socket",'
                     r'outcome="ok"\} 1$', text, re.MULTILINE)
    assert re.search(r'^wqm_request_duration_seconds_bucket\{op="list_aliases",via="socket",'
                     r'outcome="ok",le="\+Inf"\} 1$', text, re.MULTILINE)


def test_an_open_page_keeps_the_service_from_idling_out(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WQM_SERVICE", "auto")
    monkeypatch.setenv("WQM_SERVICE_IDLE", "2")
    settings = Settings.from_env()
    try:
        link = open_link()
        port, token = link["port"], link["token"]
        with socket.create_connection(("127.0.0.1", port), timeout=15) as stream:
            stream.sendall(f"GET /api/events?token={token} HTTP/1.1\r\n"
                           f"Host: localhost:{port}\r\n\r\n".encode())
            received = b""
            while b"event: version" not in received:
                received += stream.recv(4096)
            assert b"text/event-stream" in received
            time.sleep(5)  # more than twice the idle timeout
            assert read_pid_info(ServicePaths.for_settings(settings)) is not None
        deadline = time.monotonic() + 20
        while read_pid_info(ServicePaths.for_settings(settings)) is not None:
            assert time.monotonic() < deadline, "the service did not stop once the page closed"
            time.sleep(0.2)
    finally:
        stop_service(settings)


def test_the_dashboard_needs_the_service(data_dir: Path) -> None:
    done = run_wqm("dashboard")  # WQM_SERVICE=off (the test default)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: The dashboard is served by the workspace service")
    assert done.stderr.count("\n") == 1


# -- the data behind the page (in-process) ----------------------------------------------------


def test_usage_is_counted_per_day_for_registered_names(settings: Settings,
                                                       make_repo: Factory) -> None:
    data = seed_project(settings, make_repo("proj"))
    with opened(settings) as ws:
        assert ws.state.schema_version() == SCHEMA_VERSION
        for _ in range(3):
            ws.aliases.record_use(data["name"])
        ws.aliases.record_use("_never_registered")
        usage = registry.run(ws, "alias_usage", {"days": 7})
        assert len(usage["days"]) == 7
        row = next(r for r in usage["names"] if r["name"] == data["name"])
        assert row["per_day"] == [0] * 6 + [3] and row["hit_count"] == 3
        assert [r["name"] for r in usage["names"]] == [data["name"]]
        rows = ws.state.connection.execute("SELECT alias_name, hits FROM alias_usage_daily")
        assert [tuple(r) for r in rows] == [(data["name"], 3)]


def test_stale_names_follow_the_stale_aliases_rule(settings: Settings,
                                                   make_repo: Factory) -> None:
    repo = make_repo("proj")
    seed_project(settings, repo)
    # The path name stops being the current one (a current name is never stale).
    git(repo, "remote", "add", "origin", "https://github.com/acme/stale-rule.git")
    with opened(settings) as ws:
        for days, expect_stale in ((0, True), (30, False)):
            rule = {r["alias_name"] for r in registry.run(ws, "stale_aliases", {"days": days})}
            usage = registry.run(ws, "alias_usage", {"stale_days": days})
            graph = registry.run(ws, "alias_graph", {"stale_days": days})
            assert {r["name"] for r in usage["names"] if r["stale"]} == rule
            assert {n["name"] for n in graph["names"] if n["stale"]} == rule
            assert bool(rule) is expect_stale


def test_graph_lists_collections_no_name_reaches(settings: Settings, make_repo: Factory) -> None:
    data = seed_project(settings, make_repo("proj"))
    retired = new_physical_name()
    with opened(settings) as ws:
        store.call(ws.client, "create", lambda: ws.client.create_collection(
            retired, vectors_config=vectors_config()))
        graph = registry.run(ws, "alias_graph", {})
        by_name = {c["name"]: c for c in graph["collections"]}
        assert by_name[retired]["reachable"] is False and by_name[retired]["names"] == []
        assert by_name[data["physical"]]["names"] == [data["name"]]
        assert by_name[data["physical"]]["points"] == 5
        metrics = registry.run(ws, "registry_metrics", {})
        assert {(p["collection"], p["points"]) for p in metrics["points"]} == {
            (data["physical"], 5), (retired, 0)}


def test_timeline_marks_the_change_undo_would_revert(settings: Settings,
                                                     make_repo: Factory) -> None:
    data = seed_project(settings, make_repo("proj"))
    with opened(settings) as ws:
        registry.run(ws, "alias_switch", {"changes": [
            {"alias": "_second", "target": data["physical"]}]})
        timeline = registry.run(ws, "alias_timeline", {})
        first = timeline["entries"][0]
        assert first["undo_target"] and timeline["undo_change_id"] == first["change_id"]
        assert first["steps"] == [{"alias": "_second", "action": "create", "before": None,
                                   "after": data["physical"]}]
        registry.run(ws, "undo", {"actor": "dashboard", "all": True})
        timeline = registry.run(ws, "alias_timeline", {})
        newest, undone = timeline["entries"][:2]
        assert newest["kind"] == "undo" and newest["actor"] == "dashboard"
        assert newest["undo_target"] and undone["undone_by"] == newest["change_id"]


def test_the_page_files_ship_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["package-data"]["workspace_qdrant_mcp.service.dashboard"]
    folder = ROOT / "src/workspace_qdrant_mcp/service/dashboard"
    files = {p.relative_to(folder) for p in (folder / "static").iterdir()}
    assert {"index.html", "app.js", "app.css", "favicon.svg"} <= {f.name for f in files}
    assert all(any(f.match(pattern) for pattern in shipped) for f in files)
    page = (folder / "static/index.html").read_text()
    assert "<script>" not in page and " style=" not in page  # no inline code: the CSP forbids it
    for item in (folder / "static").iterdir():  # no address outside the page's own server
        urls = set(re.findall(r"https?://[^\s'\"`)]+", item.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (item.name, urls)
