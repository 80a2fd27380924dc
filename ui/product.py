"""Which product the app is showing: the current source, its vision file and its currency.

A vision belongs to a product: each source of ``sources.toml`` names its vision file (``vision =
"visions/shop.toml"``, else ``visions/<source>.toml`` beside sources.toml) and its ``currency``.
The demo keeps the app's own ``vision.toml`` (``$NORTHSTAR_VISION`` overrides it, for tests).
No page ever judges one product's data against another product's targets.

This module also says, on every page, which source the numbers come from and why the configured
default is not the one shown (:func:`notice`), so a broken ``sources.toml`` is never silent.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import connectors
from connectors.config import DEMO, SourceConfig
from ui import data

#: The environment variable that points the demo's vision file elsewhere.
VISION_ENV = "NORTHSTAR_VISION"
ROOT = Path(__file__).resolve().parent.parent
#: The currency of a product that names none (the demo's).
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class Configuration:
    """sources.toml as the app reads it: the sources, the default, and what is wrong with it."""

    sources: dict[str, SourceConfig]
    default: str
    problem: str | None = None


def configuration() -> Configuration:
    """sources.toml, read again only when the file changes."""
    from connectors.config import config_path

    path = config_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _read(str(path.resolve()), stamp)


@functools.lru_cache(maxsize=4)
def _read(path: str, stamp: int | None) -> Configuration:
    from connectors.config import read_config

    try:
        sources, default = read_config(path)
    except connectors.ConnectorError as exc:
        return Configuration({}, DEMO, str(exc))
    return Configuration(sources, default)


def source_config(name: str | None = None) -> SourceConfig | None:
    """The configuration of a source (the current one by default); None for an unlisted demo."""
    config = configuration()
    return config.sources.get(name or data.source_name())


def demo_vision_path() -> Path:
    """The demo product's vision file: ``$NORTHSTAR_VISION``, else vision.toml beside app.py."""
    return Path(os.environ.get(VISION_ENV) or ROOT / "vision.toml")


def vision_path(name: str | None = None) -> Path:
    """The vision file of a source's product (the current source by default); it may not exist
    yet, in which case the Overview offers the guided setup that writes it."""
    source = name or data.source_name()
    config = source_config(source)
    if config is None:
        return demo_vision_path()
    return config.vision_file or demo_vision_path()


def is_demo_vision(path: Path) -> bool:
    return path == demo_vision_path()


def source_currency(name: str | None = None) -> str | None:
    """The currency the source's configuration names (``currency = "GBP"``), if any."""
    config = source_config(name)
    return config.currency if config is not None else None


def currency(vision_currency: str | None = None, name: str | None = None) -> str:
    """The currency every money figure of the source shows: the source's own, else its vision's,
    else the default (USD)."""
    return source_currency(name) or vision_currency or DEFAULT_CURRENCY


def money_currency() -> str:
    """The current source's currency, as :func:`currency` decides it with its own vision's."""
    from ui import targets as vision_file

    vision = vision_file.read_vision().vision
    return currency(vision.currency if vision is not None else None)


def display_path(path: Path) -> str:
    """A file's path as a page may show it: relative to sources.toml's folder or the app's
    folder, else its name alone (nothing of the server's file system beyond the project)."""
    from connectors.config import config_path

    resolved = path.resolve()
    for base in (config_path().resolve().parent, ROOT):
        try:
            return resolved.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.name


def without_folders(message: str) -> str:
    """A message with the folders of sources.toml and of the app left out of its paths, so a
    page names files as sources.toml does, never by the server's absolute paths."""
    from connectors.config import config_path

    for base in (config_path().resolve().parent, ROOT):
        message = message.replace(f"{base}{os.sep}", "")
    return message


def load_failure(name: str, reason: str) -> str:
    """Why the page has no data: which source, whether it is the configured default, and why."""
    config = configuration()
    which = "the default source in sources.toml" if name == config.default else "the picked source"
    return f"Could not load {name}, {which}: {without_folders(reason)}"


def describe(name: str) -> str:
    """How the chrome names a source: its name and description."""
    config = source_config(name)
    if config is None or config.description == name:
        return name
    return f"{name} · {config.description}"


def notice(name: str) -> str | None:
    """Why the app is not showing the configured default, in plain words; None when it is."""
    config = configuration()
    if config.problem:
        return (
            f"sources.toml has problems, so Northstar shows the built-in demo instead of your "
            f"data until they are fixed: {config.problem}"
        )
    return None
