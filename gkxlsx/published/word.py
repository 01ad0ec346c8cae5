"""An old Word document (.doc, the OLE2 compound file Word 97–2003 and WPS write) → .docx through
LibreOffice, then read as a .docx (:func:`gkxlsx.published.extract.docx_to_text`).

:func:`doc_to_docx` raises :class:`ConversionError` with a Chinese message when LibreOffice (or
its Writer) is not installed or the conversion fails; the caller adds the file's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ConversionError(Exception):
    """The .doc could not be converted (message in Chinese)."""


def doc_to_docx(path: Path, out_dir: Path, office: Any = None) -> Path:
    """Convert ``path`` (a .doc) into ``out_dir``; returns the .docx.  ``office``: a running
    :class:`gkxlsx.office.lo.LibreOffice` to reuse, else one is started for this file."""
    from gkxlsx.office import lo

    if office is None and not lo.available():
        raise ConversionError(
            "读取旧版 Word（.doc）文件需要 LibreOffice，本机没有安装。请安装 LibreOffice 后重试，"
            "或在 Word/WPS 中另存为 .docx 后再读取。"
        )
    try:
        if office is not None:
            out = office.convert(path, "docx", out_dir)
        else:
            with lo.LibreOffice() as session:
                out = session.convert(path, "docx", out_dir)
    except lo.LibreOfficeError as e:
        if e.missing == "writer":
            raise ConversionError("无法读取旧版 Word（.doc）文件：" + lo.WRITER_MISSING) from None
        raise ConversionError(
            f"无法读取旧版 Word（.doc）文件：LibreOffice 没能把它转换为 .docx（{e.message}）。请在 Word/WPS 中另存为 .docx 后再读取。"
        ) from None
    out = Path(out)
    if not out.is_file():
        raise ConversionError("无法读取旧版 Word（.doc）文件：LibreOffice 没有生成 .docx 文件，可能不是 Word 文档。")
    return out


__all__ = ["ConversionError", "doc_to_docx"]
