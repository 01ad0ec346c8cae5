"""Pieces every command module shares: the Chinese error exit and the campaign option."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import typer

CAMPAIGN_OPT = typer.Option(None, "--campaign", "-C", help="收集任务目录（默认：当前目录） / campaign folder")


@cache
def publication() -> Mapping[str, Any]:
    """The current built-in form's publication facts (deadlines, their basis) for help texts, read
    from its JSON: the help of a command imports no layer (see gkxlsx.form.model.Form.publication)."""
    forms = Path(__file__).resolve().parents[1] / "data" / "forms"
    latest = max((p for p in forms.glob("*.json") if p.stem.isdigit()), key=lambda p: p.stem)
    return json.loads(latest.read_text(encoding="utf-8"))["publication"]


def deadline_zh(which: str = "deadline") -> str:
    """“1月31日”: the form's deadline of departments (``deadline``) or, with ``government``, the
    later one of local governments at county level and above."""
    p = publication()
    m, d = max(p["deadline_by_unit_type"].values()) if which == "government" else p["deadline"]
    return f"{m}月{d}日"


def fail(msg: str, code: int = 2) -> NoReturn:
    """Print a Chinese message in red on stderr and leave with ``code`` (2: bad input, 1: problems found)."""
    typer.secho(msg, err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def open_campaign(campaign: Path | None):
    """The campaign in ``campaign`` or the current directory, or a clear message and exit 2."""
    from gkxlsx.campaign.campaign import CampaignError, find_campaign

    try:
        return find_campaign(campaign)
    except CampaignError as e:
        fail(str(e))
