"""The guide's sessions, run for real: cog blocks in docs/guide/*.md print them.

Each session is a list of shell steps run by one ``bash`` in a fresh temporary folder
with its own ``WQM_DATA_DIR`` (``WQM_SERVICE=off``: the store is opened in-process),
real git repositories and the real ``wqm`` executable of this environment. The
transcript shows each step as ``$ command`` followed by what it printed (stdout and
stderr, in order). A step starting with ``@`` runs but is not shown (setting up files).

What changes from run to run is normalised so ``cog --check`` is stable: the temporary
folder becomes ``/home/you``, path-based names are recomputed for the shown path (so
they are the names a user at that path would see), physical collection names,
timestamps and durations get stable stand-ins. Nothing else is edited.

Regenerate the guide with ``cog -r docs/guide/*.md``; ``tests/test_guide.py`` runs
``cog --check``, so a command that stops working or prints something else fails it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SHOWN_HOME = "/home/you"
MARK = "\x1eSTEP "

#: Files of the small projects the sessions index (a few chunks: the model is the cost).
SHOP = {
    "cart.py": 'def add_item(cart, item):\n    """Add an item to the cart."""\n'
               "    cart.append(item)\n    return cart\n",
    "README.md": "# Shop\n\nA tiny shop: carts, items and prices.\n",
}
NOTES = {
    "plan.md": "# Trip plan\n\nTrain to Lyon on Friday, back on Sunday evening.\n",
    "budget.md": "# Budget\n\nHotel 240 EUR, train 90 EUR, food 120 EUR.\n",
}


def _writes(files: dict[str, str]) -> list[str]:
    """Hidden steps that write ``files`` into the current folder."""
    return [f"@printf %s {_quote(text)} > {name}" for name, text in files.items()]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _git_project(name: str, files: dict[str, str] = SHOP) -> list[str]:
    """Hidden steps: a git repository ``name`` with ``files`` committed; shown: cd into it."""
    return [f"@mkdir {name}", f"cd {name}", "@git init -q -b main", *_writes(files),
            "@git add -A", "@git commit -q -m 'first commit'"]


SESSIONS: dict[str, list[str]] = {
    "remote-added": [
        *_git_project("shop"),
        "wqm ingest",
        "git remote add origin https://github.com/acme/shop.git",
        "wqm status",
        'wqm search "add an item to the cart" -n 1 --format simple',
        "wqm project list-aliases",
        "wqm project undo --dry-run",
        "git remote set-url origin git@github.com:acme-corp/shop.git",
        'wqm search "add an item to the cart" -n 1 --format simple',
        "wqm project history",
    ],
    "moved": [
        *_git_project("shop"),
        "@wqm ingest",
        "cd ..",
        "mv shop webshop",
        "cd webshop",
        'wqm search "add an item to the cart" -n 1 --format simple',
    ],
    "folder-moved": [
        "@mkdir trip",
        "cd trip",
        *_writes(NOTES),
        "@wqm ingest",
        "cd ..",
        "mv trip trip-2026",
        "cd trip-2026",
        'wqm search "train to Lyon" -n 1 --format simple',
    ],
    "folder-undecided": [
        "@mkdir trip",
        "cd trip",
        *_writes(NOTES),
        "@wqm ingest",
        "cd ..",
        "mv trip trip-2026",
        "cd trip-2026",
        "echo 'Hotel 260 EUR, train 95 EUR.' >> budget.md",
        "echo 'Museum on Saturday.' >> plan.md",
        'wqm search "train to Lyon" -n 1 --format simple',
        "wqm project update-path --old-path /home/you/trip --yes",
        'wqm search "train to Lyon" -n 1 --format simple',
    ],
    "manual": [
        "export WQM_AUTO_MIGRATE=0",
        *_git_project("shop"),
        "@wqm ingest",
        "cd ..",
        "mv shop webshop",
        "cd webshop",
        "wqm project update-path --old-path /home/you/shop --dry-run",
        "wqm project update-path --old-path /home/you/shop --yes",
        "wqm project undo --yes",
    ],
    "cleanup": [
        *_git_project("shop"),
        "@wqm ingest",
        "git remote add origin https://github.com/acme/shop.git",
        'wqm search "add an item to the cart" -n 1 --format simple',
        "wqm project stale-aliases --days 0",
        "wqm project remove-alias {name:/home/you/shop} --yes",
        "wqm project undo --yes",
    ],
    "forget": [
        *_git_project("shop"),
        "@wqm ingest",
        "echo n | wqm project forget",
        "wqm project forget --yes",
        "wqm project doctor",
    ],
    "clones": [
        "@mkdir work",
        "cd work",
        *_git_project("shop"),
        "@git remote add origin https://github.com/acme/shop.git",
        "wqm ingest",
        "cd ..",
        "git clone -q shop shop-review",
        "cd shop-review",
        "@git remote set-url origin https://github.com/acme/shop.git",
        "git remote get-url origin",
        "wqm status",
        'wqm search "add an item to the cart" -n 1 --format simple',
    ],
    "rebuild": [
        *_git_project("shop"),
        "@wqm ingest",
        "wqm reindex",
        "wqm project undo --yes",
        "wqm gc --dry-run",
    ],
}


#: ``{name:/home/you/shop}`` in a step: the path name of that folder (real when run, shown as is).
_NAMED = re.compile(r"\{name:([^}]*)\}")


def _path_name(path: str) -> str:
    return "_path_" + hashlib.sha256(os.fsencode(path)).hexdigest()[:12]


class _Normaliser:
    """Turns one run's output into the stable text the guide shows."""

    def __init__(self, session: str, base: Path) -> None:
        self.session = session
        self.base = str(base)
        self.physical: dict[str, str] = {}
        self.paths: dict[str, str] = {}

    def learn_paths(self) -> None:
        """Map the path name of every folder under the base to the shown folder's."""
        for folder in [Path(self.base), *Path(self.base).glob("*"), *Path(self.base).glob("*/*")]:
            if folder.is_dir():
                self.learn(str(folder))

    def learn(self, folder: str) -> None:
        """Map the path name of ``folder`` (a step ran there) to the shown folder's."""
        real = os.path.realpath(folder)
        shown = real.replace(os.path.realpath(self.base), SHOWN_HOME, 1)
        self.paths.setdefault(_path_name(real), _path_name(shown))

    def _stand_in(self, match: re.Match[str]) -> str:
        name = match.group(0)
        if name not in self.physical:
            seed = f"{self.session}:{len(self.physical)}".encode()
            self.physical[name] = "wqm_" + hashlib.sha256(seed).hexdigest()[:16]
        return self.physical[name]

    def __call__(self, text: str) -> str:
        text = text.replace(os.path.realpath(self.base), SHOWN_HOME).replace(self.base, SHOWN_HOME)
        text = re.sub(r"_path_[0-9a-f]{12}", lambda m: self.paths.get(m.group(0), m.group(0)), text)
        text = re.sub(r"wqm_[0-9a-f]{16}", self._stand_in, text)
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "2026-03-02 10:15:00", text)
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "2026-03-02 10:15", text)
        text = re.sub(r"\b\d+\.\d s\b", "0.9 s", text)
        return "".join(line.rstrip() + "\n" for line in text.splitlines())


def _environment(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WQM_", "QDRANT_"))}
    if "WQM_CACHE_DIR" in os.environ:
        env["WQM_CACHE_DIR"] = os.environ["WQM_CACHE_DIR"]
    env.update({
        "HOME": str(base / ".home"), "WQM_DATA_DIR": str(base / ".wqm"), "WQM_SERVICE": "off",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1", "COLUMNS": "140", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "You", "GIT_AUTHOR_EMAIL": "you@example.invalid",
        "GIT_COMMITTER_NAME": "You", "GIT_COMMITTER_EMAIL": "you@example.invalid",
        "GIT_AUTHOR_DATE": "2026-03-02T10:00:00", "GIT_COMMITTER_DATE": "2026-03-02T10:00:00",
    })
    (base / ".home").mkdir()
    return env


def play(session: str, steps: list[str]) -> list[tuple[str, str]]:
    """Run ``steps`` in a fresh folder: each shown step with its normalised output."""
    with tempfile.TemporaryDirectory(prefix="wqm-guide-") as tmp:
        base = Path(tmp)
        real = os.path.realpath(base)
        script = ['cd "$1"']
        for i, step in enumerate(steps):
            command = _NAMED.sub(lambda m: _path_name(m.group(1).replace(SHOWN_HOME, real, 1)),
                                 step.removeprefix("@")).replace(SHOWN_HOME, str(base))
            script.append(f"printf '{MARK}{i} %s\\n' \"$PWD\"; {command} 2>&1 </dev/null")
        result = subprocess.run(
            ["bash", "-c", "\n".join(script), "guide", str(base)], capture_output=True,
            text=True, env=_environment(base), timeout=600, check=False,
        )
        normalise = _Normaliser(session, base)
        normalise.learn_paths()
        parts = result.stdout.split(MARK)[1:]
        shown: list[tuple[str, str]] = []
        for part in parts:
            head, _, output = part.partition("\n")
            index, _, folder = head.partition(" ")
            normalise.learn(folder)
            step = _NAMED.sub(lambda m: _path_name(m.group(1)), steps[int(index)])
            if not step.startswith("@"):
                shown.append((step, normalise(output)))
    if len(parts) != len(steps):
        shown.append(("", f"(the session stopped after step {len(parts)}: {result.stderr})\n"))
    return shown


def run(session: str) -> str:
    """Run one of SESSIONS and return its normalised transcript."""
    return "".join(f"$ {step}\n{output}" for step, output in play(session, SESSIONS[session]))


_DONE: dict[str, str] = {}


def run_all(extra: dict[str, list[str]] | None = None) -> dict[str, list[tuple[str, str]]]:
    """Run every session (and ``extra`` ones), three at a time; keep the guide's transcripts."""
    every = {**SESSIONS, **(extra or {})}
    play("warm-up", [*_git_project("warm"), "@wqm ingest"])  # exports the model once, alone
    with ThreadPoolExecutor(max_workers=3) as pool:
        played = dict(zip(every, pool.map(play, every, every.values()), strict=True))
    for name in SESSIONS:
        _DONE[name] = "".join(f"$ {step}\n{output}" for step, output in played[name])
    return played


def transcript(session: str) -> str:
    """The session's transcript as a console block; all sessions run once, in parallel."""
    if not _DONE:
        run_all()
    return "```console\n" + _DONE[session] + "```\n"


if __name__ == "__main__":
    for name in sys.argv[1:] or list(SESSIONS):
        print(f"== {name}\n{run(name)}")
