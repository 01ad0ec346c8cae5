"""Pieces every command module shares: the Chinese error exit and the campaign option."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

CAMPAIGN_OPT = typer.Option(None, "--campaign", "-C", help="收集任务目录（默认：当前目录） / campaign folder")


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
