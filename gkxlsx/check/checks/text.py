"""7. Narrative checks (:mod:`gkxlsx.text.narrative`) → W-TXT-*; this year's text against last
year's → W-XY-SIMILAR; and, last, structural findings softened for a template of another version."""

from __future__ import annotations

from dataclasses import replace

from gkxlsx.check.checks.base import FileCheck
from gkxlsx.check.plan import loc
from gkxlsx.findings import make_finding


def check_narrative(c: FileCheck) -> None:
    """docs/FORMAT.md §5.2 narrative rules (gkxlsx.text.narrative) on this workbook's fields and tables.

    Called without ``fields_only``: a workbook has its tables, so the text-versus-table rules
    (W-TXT-APPL, W-TXT-REVIEW, W-TXT-DOCS) run too.  Empty required narratives are that
    module's E-TXT-EMPTY."""
    try:
        from gkxlsx.text import narrative
    except ModuleNotFoundError as e:  # pragma: no cover - the module is part of the package
        if e.name != "gkxlsx.text.narrative":
            raise
        return
    try:
        found = narrative.check_narrative(c.form, c.vals, unit=c.unit_type, year=c.identity.year or 0)
    except Exception as e:  # noqa: BLE001 - a bug there must not stop the batch
        c.add(make_finding("E-INTERNAL", reason=f"文字部分检查：{type(e).__name__}: {e}"[:200]))
        return
    pos = c.pos
    for f in found or ():
        locs = tuple(loc(*pos[k]) for k in f.keys if pos.get(k))  # type: ignore[misc]
        c.add(f.with_locations(locs) if locs else f)


def check_similar_to_last_year(c: FileCheck) -> None:
    """W-XY-SIMILAR: this year's narrative (一、五、六) nearly the same as last year's (内容雷同)."""
    if c.prev is None:
        return
    from gkxlsx.text.similarity import THRESHOLD, finding, jaccard, narrative_text, shingles

    name = c.identity.unit_name or ""
    a = shingles(narrative_text(c.vals), name)
    b = shingles(narrative_text(c.prev), name)
    score = jaccard(a, b)
    if score >= THRESHOLD:
        c.add(finding("上年度报告", score, last_year=True))


def check_other_generator(c: FileCheck) -> None:
    """The template itself differs from what this version generates (I-TEMPLATE-GENERATOR):
    structural comparisons are not the unit's fault — keep them, as warnings."""
    if any(f.rule_id == "I-TEMPLATE-GENERATOR" for f in c.findings):
        c.findings = [
            replace(f, severity="warning", message=f.message + "（模板由其他版本的工具生成，此项仅供参考）")
            if f.rule_id in ("E-STRUCT-LABEL", "E-STRUCT-FORMULA", "E-STRUCT-SHIFT")
            else f
            for f in c.findings
        ]
