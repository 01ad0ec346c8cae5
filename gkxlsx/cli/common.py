"""Pieces every command module shares: the Chinese error exit and the campaign option."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def writing(what: str) -> Iterator[None]:
    """Turn a failed write (a full disk, a quota, a read-only disk) inside the block into a Chinese
    message naming ``what`` (or the file the error names) and exit 1; nothing already stored is lost
    (files are written to a temporary name and renamed, ledger writes are transactions).  Any other
    error passes through."""
    from gkxlsx.fsutil import failed_file, write_problem

    try:
        yield
    except Exception as e:
        problem = write_problem(e)
        if problem is None:
            raise
        name = failed_file(e)
        target = f"文件 {name}" if name else what
        fail(f"无法写入{target}：{problem}。已保存的数据没有丢失、也没有留下写了一半的文件；请腾出磁盘空间后重试。", 1)
