"""W-XY-SIMILAR: narrative text that is (nearly) the same as another unit's this year or the same
unit's last year — the 30号 notice names “内容雷同” among the faults that lead to accountability.

Texts are compared as sets of character 5-grams after removing what legitimately differs (the
unit's own name, digits, punctuation and spaces); the score is the Jaccard index.  Only the
narrative parts count (一、五、六): tables of small units are legitimately identical (all zero).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gkxlsx.findings import Finding, make_finding
from gkxlsx.text.narrative import canonical_titles

THRESHOLD = 0.85  # Jaccard index of 5-gram sets; boilerplate sentences alone stay well below
MIN_CHARS = 80  # shorter texts say too little to call them copied
_DROP = re.compile(r"[\s0-9０-９\W_]+", re.UNICODE)
NARRATIVE_SECTIONS = ("s1", "s5", "s6")
NARRATIVE_PREFIXES = tuple(f"{sid}." for sid in NARRATIVE_SECTIONS)


def narrative_text(values: Mapping[str, Any]) -> str:
    return "\n".join(
        str(v)
        for k, v in sorted(values.items())
        if k.startswith(NARRATIVE_PREFIXES) and isinstance(v, str) and v.strip()
    )


def name_variants(unit_name: str) -> list[str]:
    """The ways a report names its own unit: 示例县城关镇人民政府, 示例县城关镇, 城关镇 (longest first)."""
    names = {unit_name, re.sub(r"(人民政府|办事处)$", "", unit_name)}
    m = re.search(r"(?:省|市|州|盟|县|区|旗)([^省市州盟县区旗]+?)(?:人民政府|办事处)?$", unit_name)
    if m and len(m.group(1)) >= 2:
        names.add(m.group(1))
    return sorted((n for n in names if n), key=len, reverse=True)


def shingles(text: str, unit_name: str = "", n: int = 5) -> frozenset[str]:
    t = text
    for name in name_variants(unit_name):
        t = t.replace(name, "")
    t = _DROP.sub("", t)
    if len(t) < MIN_CHARS:
        return frozenset()
    return frozenset(t[i : i + n] for i in range(len(t) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True)
class Doc:
    ident: str  # what the user calls it: unit name, file name
    shingles: frozenset[str]


MASK_BUDGET = 256 << 20  # bytes of bit sets a join may hold; beyond it pairs are compared as sets
_NO_SET: frozenset[int] = frozenset()  # the set of a representative when the join uses bit sets


def similar_pairs(docs: Sequence[Doc], threshold: float = THRESHOLD) -> list[tuple[int, int, float]]:
    """Index pairs (i < j) of documents at least ``threshold`` similar, most similar first."""
    vocab: dict[str, int] = {}
    return join([token_ids(d.shingles, vocab) for d in docs], threshold)


def token_ids(shingles: Iterable[str], vocab: dict[str, int]) -> tuple[int, ...]:
    """A document's shingles as numbers shared by all documents of one join (each shingle's text is
    held once, in ``vocab``: ten thousand reports' shingles as text would take hundreds of MB)."""
    get = vocab.setdefault
    return tuple(get(t, len(vocab)) for t in shingles)


def join(sets: Sequence[tuple[int, ...]], threshold: float = THRESHOLD) -> list[tuple[int, int, float]]:
    """Index pairs (i < j) of token sets whose Jaccard index is at least ``threshold``, most
    similar first.

    A prefix-filtered similarity join (AllPairs, Bayardo et al. 2007), so that tens of thousands
    of reports are compared without comparing every pair: tokens are ranked rarest first across
    all documents; two sets whose Jaccard index reaches t share a token among the first
    |x| - ceil(t·|x|) + 1 of each.  Sets are taken smallest first, only those prefixes are
    indexed, and a candidate must also be large enough (|y| ≥ t·|x|) before it is compared.
    Identical sets (a report copied with only the unit's name changed) are compared once.  A
    comparison is one AND of two bit sets over the tokens found in more than one set (texts made
    of the same stock sentences share most tokens with many others, and then most pairs are
    candidates), or, past :data:`MASK_BUDGET`, a set intersection."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    freq: Counter = Counter()
    distinct: dict[tuple[int, ...], list[int]] = {}  # sorted tokens (a tuple: an eighth of a set's memory)
    for i, t in enumerate(sets):
        if t:
            key = tuple(sorted(set(t)))
            same = distinct.get(key)
            if same is None:
                distinct[key] = [i]
                freq.update(key)
            else:
                same.append(i)
    order = sorted(freq, key=lambda t: (freq[t], t))  # rarest first
    rank = {t: r for r, t in enumerate(order)}
    n_once = sum(1 for t in order if freq[t] == 1)  # tokens of one set only: never in an intersection
    reps = sorted(distinct, key=len)  # one set per group of identical ones, smallest first
    n_shared = len(order) - n_once
    use_masks = (n_shared // 8 + 1) * len(reps) <= MASK_BUDGET
    ranks, masks = [], []
    for s in reps:
        rs = sorted(rank[t] for t in s)
        ranks.append(rs)
        if use_masks:
            bits = bytearray(n_shared // 8 + 1)
            for r in rs:
                if r >= n_once:
                    r -= n_once
                    bits[r >> 3] |= 1 << (r & 7)
            masks.append(int.from_bytes(bits, "little"))
    sizes = [len(s) for s in reps]
    index: dict[int, list[int]] = {}
    found: list[tuple[int, int, float]] = []  # between representatives
    for x, rs in enumerate(ranks):
        n = sizes[x]
        need = threshold * n
        sx: frozenset[int] | set[int]
        if use_masks:  # x's shared tokens as bits, or its tokens as a set
            mx, sx = masks[x], _NO_SET
        else:
            mx, sx = 0, set(reps[x])
        seen: set[int] = set()
        for r in rs[: n - math.ceil(need - 1e-6) + 1]:  # the prefix, never shorter than the bound
            posting = index.get(r)
            if posting is None:
                index[r] = [x]
                continue
            for y in posting:
                if y not in seen:
                    seen.add(y)
                    ny = sizes[y]
                    if ny / n >= threshold:  # the score is at most |y|/|x| (so compared, rounding drops no pair)
                        inter = (mx & masks[y]).bit_count() if use_masks else len(sx.intersection(reps[y]))
                        sc = inter / (n + ny - inter)
                        if sc >= threshold:
                            found.append((x, y, sc))
            posting.append(x)
    out: list[tuple[int, int, float]] = []
    for s in reps:  # copies of one another
        group = distinct[s]
        out.extend((group[a], group[b], 1.0) for a in range(len(group)) for b in range(a + 1, len(group)))
    for x, y, sc in found:
        out.extend((min(i, j), max(i, j), sc) for i in distinct[reps[x]] for j in distinct[reps[y]])
    out.sort(key=lambda x: (-x[2], x[0], x[1]))
    return out


def finding(other: str, score: float, *, last_year: bool = False) -> Finding:
    titles = canonical_titles()
    return make_finding(
        "W-XY-SIMILAR",
        variant="last_year" if last_year else None,
        other=other,
        score=score,
        instance=f"W-XY-SIMILAR[{other}]",
        locations=tuple(titles[sid] for sid in NARRATIVE_SECTIONS),
    )


def cross_findings(
    items: Iterable[tuple[str, str, Mapping[str, Any]]], threshold: float = THRESHOLD
) -> dict[int, list[Finding]]:
    """For (ident, unit name, values) items: index → W-XY-SIMILAR findings naming the other item."""
    items = list(items)
    docs = [Doc(ident, shingles(narrative_text(vals), name)) for ident, name, vals in items]
    out: dict[int, list[Finding]] = {}
    for i, j, s in similar_pairs(docs, threshold):
        out.setdefault(i, []).append(finding(docs[j].ident, s))
        out.setdefault(j, []).append(finding(docs[i].ident, s))
    return out
