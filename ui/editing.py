"""Who may move the targets: editing roles for shared deployments, and the change log.

Editing the vision file from the Overview is **off** unless the deployment turns it on, in
``.streamlit/secrets.toml`` or in ``sources.toml``::

    [editing]
    enabled = true
    editors = ["ana@example.com", "sam@example.com"]   # who may edit, by e-mail

Where the app is behind Streamlit's built-in login (``st.login``, an ``[auth]`` section in
secrets.toml), only a signed-in user whose e-mail is listed in ``editors`` may edit, and the page
says who is signed in. Without a login nobody can be identified: editing is then allowed only when
no editors are listed (a laptop, a single-user deployment). See :func:`access` for every case.

Every saved change is appended to the change log beside the vision file
(``vision.changes.csv`` for ``vision.toml``): when (UTC), who, KPI, field, old and new value, one
row per changed field, so a leadership review can see whether the goalposts moved.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from metrics import targets

#: The change log's columns, in order.
LOG_COLUMNS = ("when", "who", "kpi", "field", "old", "new")
#: The KPI fields whose changes the log records.
LOGGED_FIELDS = ("name", "metric", "target", "direction", "deadline", "owner", "description")


@dataclass(frozen=True)
class Settings:
    """The deployment's editing configuration: on or off, and the editors' e-mails."""

    enabled: bool = False
    editors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """Who is using the page, as far as the app can tell."""

    login: bool  # the deployment has Streamlit's login configured
    signed_in: bool
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Access:
    """Whether this person may edit targets now, under what name, and why not."""

    allowed: bool
    who: str
    reason: str = ""
    sign_in: bool = False  # signing in could make them an editor


def access(settings: Settings, identity: Identity) -> Access:
    """The editing role, from the configuration and the identity.

    - editing not enabled: nobody edits;
    - behind a login: a signed-in listed editor edits; anyone else reads (and may sign in);
    - no login: anyone edits when no editors are listed, nobody when they are (they could not be
      told apart from anyone else).
    """
    who = identity.email or identity.name or "anonymous"
    if not settings.enabled:
        return Access(
            False,
            who,
            "Editing targets is off in this deployment: the vision file is changed in the "
            "repository, or turned on with [editing] enabled = true (docs/app.md).",
        )
    editors = {e.strip().lower() for e in settings.editors}
    if identity.login:
        if not identity.signed_in:
            return Access(False, who, "Sign in to edit targets.", sign_in=True)
        if identity.email and identity.email.strip().lower() in editors:
            return Access(True, identity.email)
        return Access(
            False,
            who,
            f"Signed in as {who}, who is not one of this deployment's editors: targets are "
            "read-only for you.",
        )
    if editors:
        return Access(
            False,
            who,
            "Editors are listed but this deployment has no login to tell them apart: configure "
            "Streamlit's login ([auth] in .streamlit/secrets.toml) to let them edit.",
        )
    return Access(True, "anonymous (no login configured)")


def read_settings(
    secrets: Mapping[str, Any] | None = None, sources_path: str | Path | None = None
) -> Settings:
    """The ``[editing]`` table of secrets.toml, else of sources.toml; off when neither has one."""
    table: Any = (secrets or {}).get("editing")
    if table is None:
        from connectors.config import config_path

        path = config_path(sources_path)
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("editing")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            table = None
    if not isinstance(table, Mapping):
        return Settings()
    editors = table.get("editors", ())
    if isinstance(editors, str):
        editors = [editors]
    return Settings(
        enabled=table.get("enabled") is True,
        editors=tuple(str(e) for e in editors if isinstance(e, str)),
    )


# --- the change log ----------------------------------------------------------------------------


def log_path(vision_path: Path) -> Path:
    """The change log beside a vision file: ``vision.toml`` -> ``vision.changes.csv``."""
    return vision_path.with_name(f"{vision_path.stem}.changes.csv")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def changes(old_text: str, new_text: str) -> list[dict[str, str]]:
    """What an edit changed, one row per KPI field (kpi, field, old, new); KPIs added or removed
    are one row each. Texts that do not parse give no rows (they are never saved)."""
    try:
        old = targets.parse_vision(old_text) if old_text.strip() else None
        new = targets.parse_vision(new_text)
    except targets.VisionError:
        return []
    before = {k.id: k for k in old.kpis} if old else {}
    after = {k.id: k for k in new.kpis}
    rows: list[dict[str, str]] = []
    if old is not None and old.north_star != new.north_star:
        rows.append({"kpi": "(product)", "field": "north_star", "old": old.north_star,
                     "new": new.north_star})  # fmt: skip
    for kpi_id, kpi in after.items():
        if kpi_id not in before:
            summary = f"{kpi.name}: {_text(kpi.target)} {kpi.direction} by {kpi.deadline}"
            rows.append({"kpi": kpi_id, "field": "(added)", "old": "", "new": summary})
            continue
        for field in LOGGED_FIELDS:
            was, now = _text(getattr(before[kpi_id], field)), _text(getattr(kpi, field))
            if was != now:
                rows.append({"kpi": kpi_id, "field": field, "old": was, "new": now})
    for kpi_id, kpi in before.items():
        if kpi_id not in after:
            rows.append({"kpi": kpi_id, "field": "(removed)", "old": kpi.name, "new": ""})
    return rows


def append_log(
    vision_path: Path, rows: Iterable[Mapping[str, str]], who: str, when: dt.datetime
) -> None:
    """Append the rows to the change log (created with its header on first use)."""
    rows = list(rows)
    if not rows:
        return
    path = log_path(vision_path)
    new = not path.exists()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, lineterminator="\n")
    if new:
        writer.writeheader()
    stamp = when.astimezone(dt.UTC).isoformat(timespec="seconds")
    for row in rows:
        writer.writerow({"when": stamp, "who": who, **{k: row[k] for k in LOG_COLUMNS[2:]}})
    with open(path, "a", encoding="utf-8", newline="") as out:
        out.write(buffer.getvalue())
        out.flush()
        os.fsync(out.fileno())


def read_log(vision_path: Path) -> pl.DataFrame:
    """The change log, newest first (empty, with its columns, when there is none yet)."""
    path = log_path(vision_path)
    empty = pl.DataFrame(schema={name: pl.String for name in LOG_COLUMNS})
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return empty
    rows = [
        {name: str(row.get(name) or "") for name in LOG_COLUMNS}
        for row in csv.DictReader(io.StringIO(text))
    ]
    if not rows:
        return empty
    return pl.DataFrame(rows, schema=empty.schema).reverse()


# --- the page's side (Streamlit imported inside, so the review can read the log without it) ------


def identity() -> Identity:
    """Who is signed in, from ``st.user``; tests set ``AppTest.user`` or monkeypatch this."""
    import streamlit as st

    user = st.user.to_dict() if hasattr(st.user, "to_dict") else dict(st.user)
    signed_in = user.get("is_logged_in") is True
    try:
        login = "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        login = False
    email, name = (user.get("email"), user.get("name")) if signed_in else (None, None)
    return Identity(
        login=login or signed_in,
        signed_in=signed_in,
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
    )


def settings() -> Settings:
    """The deployment's editing settings (Streamlit secrets first, then sources.toml)."""
    import streamlit as st

    try:
        secrets = st.secrets.to_dict()
    except Exception:  # noqa: BLE001 - no secrets file at all
        secrets = {}
    return read_settings(secrets)


def current_access() -> Access:
    """This session's editing role."""
    return access(settings(), identity())


def save(path: Path, original: str, new_text: str, who: str) -> Any:
    """:func:`ui.targets.save`, and on success every changed field appended to the change log."""
    from ui import targets as vision_file

    result = vision_file.save(path, original, new_text)
    if result.written:
        append_log(path, changes(original, new_text), who, dt.datetime.now(dt.UTC))
    return result
