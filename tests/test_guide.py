"""The user guide (docs/guide/) stays true: its sessions are re-run, its errors re-triggered.

The sessions are real runs of the ``wqm`` executable (docs/guide/sessions.py): ``cog
--check`` fails when one prints something else. Each troubleshooting heading is an
error sentence; a trigger below makes wqm print it for real, so a reworded error fails.
Everything runs once, three sessions at a time, each in its own folder and data dir.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from cogapp import Cog
from typer.main import get_command

from workspace_qdrant_mcp.cli import app

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs/guide"
PAGES = ["migration.md", "best-practices.md", "troubleshooting.md", "README.md"]
sys.path.insert(0, str(GUIDE))
import sessions  # docs/guide/sessions.py, imported as cog imports it

_SHOP = sessions._git_project("shop")
_HOLD_STORE = (  # a script holding the default (Edge) store, as its own process
    "@python -c 'import sys, time; from workspace_qdrant_mcp.core.edge import EdgeClient; "
    "c = EdgeClient(sys.argv[1]); print(\"held\", flush=True); time.sleep(60)' "
    '"$WQM_DATA_DIR/edge" > held.out & '
    "for i in $(seq 300); do grep -q held held.out 2>/dev/null && break; sleep 0.1; done"
)

#: A fragment of each troubleshooting heading -> the steps whose last one prints it.
TRIGGERS: dict[str, list[str]] = {
    "has no data yet": [*_SHOP, "WQM_AUTO_INDEX=0 wqm search cart"],
    "nothing to rebuild": [*_SHOP, "wqm reindex"],
    "no alias change of the project": [*_SHOP, "wqm project undo --yes"],
    "No alias is named": [*_SHOP, "wqm project remove-alias _path_000000000000 --yes"],
    "No data is known under the old path": [
        *_SHOP, "wqm project update-path --old-path /home/you/elsewhere --yes"],
    "has no git remote": [*_SHOP, "wqm project update-remote --yes"],
    "over the limit of": [*_SHOP, "WQM_MAX_PROJECT_FILES=1 wqm ingest"],
    "The search query is empty": [*_SHOP, 'wqm search ""'],
    "registry {file} is damaged": [
        *_SHOP, "@mkdir -p $WQM_DATA_DIR", "@printf garbage > $WQM_DATA_DIR/registry.db",
        "wqm status"],
    "is a file where wqm keeps a folder": [
        *_SHOP, "@mkdir ../svc", "@touch ../svc/run",
        "WQM_SERVICE=auto WQM_DATA_DIR=/home/you/svc wqm status"],
    "is open in another process": [*_SHOP, _HOLD_STORE, "wqm status", "@kill $!"],
    # These need an index (the model): one data dir, run in turn.
    "No collection or alias is named": [
        *_SHOP, "@wqm ingest", "wqm search cart --collection nope"],
    "is the last name of the data": [
        *_SHOP, "@wqm ingest", "wqm project remove-alias {name:/home/you/shop} --yes"],
    "already reaches other data": [
        *_SHOP, "@wqm ingest", "cd ..", *sessions._git_project("shop2"), "@wqm ingest",
        "wqm project update-path --old-path /home/you/shop --yes"],
    "if it was moved": [
        "@mkdir trip", "cd trip", *sessions._writes(sessions.NOTES), "@wqm ingest", "cd ..",
        "@mv trip trip-2026", "cd trip-2026", "@echo 'Hotel 260 EUR.' >> budget.md",
        "@echo 'Museum on Saturday.' >> plan.md", "wqm search Lyon"],
}

#: Headings no test can trigger here, and why; their fixed words must still be in src/.
NOT_TRIGGERED = {
    "did not answer within": "needs a service that starts but never becomes ready",
    "Rebuilding needs about": "needs a full disk (a small filesystem needs root to mount)",
    "Cannot reach the workspace service": "needs a socket this user may not connect to, and the "
                                          "tests run as root",
}


@pytest.fixture(scope="module")
def played() -> dict[str, list[tuple[str, str]]]:
    """Every session of the guide and every trigger, run once (in parallel)."""
    return sessions.run_all({f"trigger: {key}": steps for key, steps in TRIGGERS.items()})


def test_guide_sessions_are_current(played: dict[str, list[tuple[str, str]]]) -> None:
    """`cog --check` on the guide: regenerate with `cog -r docs/guide/*.md`."""
    for page in PAGES:
        cog = Cog()
        cog.options.check = True
        cog.options.verbosity = 0
        assert cog.main(["cog", "--check", str(GUIDE / page)]) == 0, f"{page} is stale: cog -r"


def test_no_session_step_fails_unexpectedly(played: dict[str, list[tuple[str, str]]]) -> None:
    """A session shows an error only where the guide means to show one."""
    meant = {("folder-undecided", 6)}  # the search before `update-path`
    for name in sessions.SESSIONS:
        for index, (step, output) in enumerate(played[name]):
            assert step, f"session {name} stopped: {output}"
            if "Error:" in output or "Traceback" in output or "Warning" in output:
                assert (name, index) in meant, (name, step, output)


def _headings() -> list[str]:
    text = (GUIDE / "troubleshooting.md").read_text()
    return [line[len("### Error: "):] for line in text.splitlines()
            if line.startswith("### Error: ")]


def _pattern(heading: str) -> re.Pattern[str]:
    """The heading as a regex: each ``{placeholder}`` stands for any text."""
    pieces = re.split(r"\{[a-z0-9]+\}", heading)
    return re.compile(".+?".join(re.escape(piece) for piece in pieces))


def test_every_heading_has_one_trigger_or_a_reason() -> None:
    for heading in _headings():
        keys = [k for k in [*TRIGGERS, *NOT_TRIGGERED] if k in heading]
        assert len(keys) == 1, f"{heading!r}: {keys}"
    assert len(_headings()) == len(TRIGGERS) + len(NOT_TRIGGERED)


@pytest.mark.parametrize("key", sorted(TRIGGERS))
def test_each_error_is_a_heading(key: str, played: dict[str, list[tuple[str, str]]]) -> None:
    """The sentence the user sees is, word for word, its heading in troubleshooting.md."""
    heading = next(h for h in _headings() if key in h)
    step, output = played[f"trigger: {key}"][-1]
    errors = [line[len("Error: "):] for line in output.splitlines() if line.startswith("Error: ")]
    assert errors, f"{step!r} printed no error: {output}"
    assert _pattern(heading).fullmatch(errors[-1]), f"{errors[-1]!r} != {heading!r}"


@pytest.mark.parametrize("key", sorted(NOT_TRIGGERED))
def test_untriggered_errors_are_still_worded_so(key: str) -> None:
    """Their fixed words are in the source (string literals joined across lines)."""
    source = "".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    joined = re.sub(r"\"\s*\n\s*f?\"", "", source)
    heading = next(h for h in _headings() if key in h)
    for piece in re.split(r"\{[a-z0-9]+\}", heading):
        assert piece in joined, f"{piece!r} of {heading!r} is no longer in src/"


def _inline_commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for span in re.findall(r"`([^`\n]*)`", (GUIDE / page).read_text()):
            words = shlex.split(re.sub(r"^(\w+=\S+ )+", "", span.replace("...", "")))
            if words[:1] == ["wqm"] and len(words) > 1:
                found.append((page, span))
    return found


@pytest.mark.parametrize(("page", "span"), _inline_commands())
def test_commands_named_in_prose_exist(page: str, span: str) -> None:
    """Every `wqm ...` named in the text is a command and its options exist."""
    words = shlex.split(re.sub(r"^(\w+=\S+ )+", "", span.replace("...", "")))
    node = get_command(app)
    for word in words[1:]:
        sub = getattr(node, "commands", {})
        if word in sub:
            node = sub[word]
        elif word.startswith("-"):
            options = {o for p in node.params for o in getattr(p, "opts", [])}
            assert word in options, f"{page}: `{span}`: no option {word}"
    assert not getattr(node, "commands", None) or words[-1] in {"project", "service", "notes"}
