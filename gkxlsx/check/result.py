"""What a check of one returned file gives: :class:`FileResult` (with the :class:`Identity` the
workbook declares), its status, and its compact form for crossing processes.

Pickling is positional on purpose: results of ``check --jobs N`` cross from worker processes to
the parent by the thousand, and field names in every pickle cost time on both sides."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from gkxlsx.findings import Finding, severity_counts
from gkxlsx.form.model import Form, load_form
from gkxlsx.form.report import Report
from gkxlsx.rules.engine import compute_derived
from gkxlsx.workbook.reader import app_label, readable_name

STATUS_PASS, STATUS_WARN, STATUS_ERR, STATUS_UNREADABLE = "通过", "有警告", "有错误", "无法识别"
STATUSES = (STATUS_PASS, STATUS_WARN, STATUS_ERR, STATUS_UNREADABLE)
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


# --------------------------------------------------------------------------------------------
# results


@dataclass
class Identity:
    """Who and what a returned workbook says it is."""

    format: str = ""
    template_version: str = ""
    year: int | None = None
    unit_code: str = ""
    unit_name: str = ""
    unit_type: str = ""
    generator: str = ""
    fingerprint: str = ""
    previous: str = ""
    source: str = ""  # where the identity was read: 文档属性 / 标识表 / 单元格位置

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "template_version": self.template_version,
            "year": self.year,
            "unit_code": self.unit_code,
            "unit_name": self.unit_name,
            "unit_type": self.unit_type,
            "generator": self.generator,
            "previous": self.previous,
        }

    @property
    def label(self) -> str:
        return f"{self.unit_code} {self.unit_name}".strip()

    def __reduce__(self):  # positional: no field names in every pickled result
        return (
            Identity,
            (
                self.format,
                self.template_version,
                self.year,
                self.unit_code,
                self.unit_name,
                self.unit_type,
                self.generator,
                self.fingerprint,
                self.previous,
                self.source,
            ),
        )


@dataclass
class FileResult:
    """The outcome of checking one file (picklable; the Report is rebuilt on demand)."""

    path: Path
    sha256: str = ""
    size: int = 0
    file_type: str = "unknown"
    application: str = ""
    identity: Identity | None = None
    status: str = STATUS_UNREADABLE
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    form_id: str | None = None
    feedback: Path | None = None
    # ``values``: parsed values by key (None where invalid), derived recomputed; ``inputs``: key →
    # content as the user sees it (feedback prefill) — properties below: a result that came from
    # a worker process unpacks them when they are first used (many consumers never do)
    _values: dict[str, Any] | None = field(default=None, repr=False)
    _inputs: dict[str, Any] | None = field(default=None, repr=False)
    _packed: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def values(self) -> dict[str, Any] | None:
        if self._packed is not None:
            self._unpack()
        return self._values

    @values.setter
    def values(self, v: dict[str, Any] | None) -> None:
        if self._packed is not None:
            self._unpack()
        self._values = v

    @property
    def inputs(self) -> dict[str, Any]:
        if self._packed is not None:
            self._unpack()
        if self._inputs is None:
            self._inputs = {}
        return self._inputs

    def _unpack(self) -> None:
        v, i = self._packed  # type: ignore[misc]
        self._packed = None
        if type(v) is _Packed or type(i) is _Packed:
            ov, oi = _key_orders(self.form_id)
            v = dict(zip(ov, v)) if type(v) is _Packed else v
            i = dict(zip(oi, i)) if type(i) is _Packed else i
        self._values, self._inputs = v, i

    @property
    def name(self) -> str:
        """The file's name as people read it (a name that is not UTF-8 decoded, see
        :func:`gkxlsx.workbook.reader.readable_name`): terminal, JSON, findings."""
        return readable_name(self.path.name)

    @property
    def app_label(self) -> str:
        return app_label(self.application) if self.application else ""

    @property
    def form(self) -> Form | None:
        return load_form(self.form_id) if self.form_id else None

    @property
    def report(self) -> Report | None:
        if self.form_id is None or self.values is None or self.identity is None:
            return None
        return Report(
            form=load_form(self.form_id),
            year=self.identity.year or 0,
            unit_name=self.identity.unit_name,
            unit_code=self.identity.unit_code,
            unit_type=self.identity.unit_type,
            values=dict(self.values),
            source=readable_name(str(self.path)),
        )

    def count(self, severity: str) -> int:
        return self.counts.get(severity, 0)

    @property
    def counts(self) -> dict[str, int]:
        return severity_counts(self.findings)

    def headline(self) -> str:
        """One line for lists: “有错误：错误 2，警告 1” or the first finding for unreadable files."""
        if self.status == STATUS_UNREADABLE and self.findings:
            return f"{self.status}：{self.findings[0].message}"
        c = self.counts
        return f"{self.status}：错误 {c['error']}，警告 {c['warning']}，提示 {c['info']}"

    # pickling (results of worker processes): positional, and values and inputs in the order a
    # clean check produces them travel as bare tuples — the keys are known to both sides

    def _packed_state(self) -> tuple:
        v: Any = self.values
        i: Any = self.inputs
        if self.form_id is not None:
            ov, oi = _key_orders(self.form_id)
            if v is not None and len(v) == len(ov) and tuple(v) == ov:
                v = _Packed(v.values())
            if len(i) == len(oi) and tuple(i) == oi:
                i = _Packed(i.values())
        return v, i

    def _state(self) -> tuple:
        """Everything but the path, positionally (see :func:`_file_result`)."""
        v, i = self._packed_state()
        return (
            self.sha256,
            self.size,
            self.file_type,
            self.application,
            self.identity,
            self.status,
            self.findings,
            self.timings,
            self.form_id,
            str(self.feedback) if self.feedback else None,
            v,
            i,
        )

    def __reduce__(self):
        return (_file_result, (str(self.path), *self._state()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "path": readable_name(str(self.path)),
            "sha256": self.sha256,
            "size": self.size,
            "file_type": self.file_type,
            "application": self.application,
            "application_label": self.app_label,
            "identity": self.identity.to_dict() if self.identity else None,
            "status": self.status,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
            "feedback": str(self.feedback) if self.feedback else None,
        }


class _Packed(tuple):
    """Values in the order of :func:`_key_orders` (a pickled FileResult's)."""


def _file_result(
    path, sha256, size, file_type, application, identity, status, findings, timings, form_id, feedback, values, inputs
) -> FileResult:
    return FileResult(
        Path(path),
        sha256,
        size,
        file_type,
        application,
        identity,
        status,
        findings,
        timings,
        form_id,
        Path(feedback) if feedback else None,
        _packed=(values, inputs),
    )


# The stream from worker processes to the parent (:mod:`gkxlsx.check.parallel`): a result crosses as the
# bytes of its state, without the path (the parent has it), and is unpickled in the parent's
# consuming thread (unpickling in multiprocessing.Pool's result thread cost half as much again in
# GIL hand-overs, time the parent takes from the workers when they have one core each).


def to_wire(r: FileResult) -> bytes:
    return pickle.dumps(r._state(), protocol=pickle.HIGHEST_PROTOCOL)


def from_wire(blob: bytes, path: Path) -> FileResult:
    return _file_result(path, *pickle.loads(blob))


@lru_cache(maxsize=16)
def _key_orders(form_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The order of a clean check's ``values`` (entry cells, fields, then totals in the order
    they are computed) and ``inputs`` (entry cells, fields that are not prefilled)."""
    form = load_form(form_id)
    entries = [k for k, c in form.cells.items() if not c.derived]
    totals = list(compute_derived(form, dict.fromkeys(entries, 0)))
    values = tuple(dict.fromkeys(entries + list(form.fields) + totals))
    inputs = tuple(entries + [k for k, f in form.fields.items() if not f.prefilled])
    return values, inputs


def status_of(findings: Sequence[Finding]) -> str:
    if any(f.severity == "error" for f in findings):
        return STATUS_ERR
    if any(f.severity == "warning" for f in findings):
        return STATUS_WARN
    return STATUS_PASS
