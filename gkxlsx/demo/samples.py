"""Realistic, internally consistent report data for fictional units — for the demo, the examples,
the tests and the benchmarks.  Deterministic for a given seed."""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gkxlsx.form.model import Form
from gkxlsx.rules.engine import compute_derived


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` non-negative integers, most of it in the first few parts."""
    out = [0] * parts
    for _ in range(total):
        i = min(int(rng.expovariate(1.2)), parts - 1)
        out[i] += 1
    return out


def sample_values(
    form: Form,
    unit_name: str,
    unit_type: str,
    year: int,
    *,
    seed: int = 0,
    busy: bool | None = None,
    figures: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete, valid set of values (tables and narrative) for one unit and year; with
    ``figures`` (a roll-up's sums) the narrative speaks of those instead of made-up ones."""
    rng = random.Random(f"{seed}|{unit_name}|{year}")
    if busy is None:
        busy = rng.random() < 0.25
    v: dict[str, Any] = {}
    t3 = form.tables["s3"]
    appl = [c.key for c in t3.columns if not c.derived]
    results = [r.key for r in t3.rows if any(n.id == "results" for n in r.path) and not r.derived]
    for col in appl:
        if col == "natural":
            new = rng.randint(5, 300) if busy else rng.choice([0, 0, 0, 1, 2, 3])
        else:
            new = rng.randint(0, 20) if busy else (rng.choice([0, 0, 0, 0, 1]) if col == "commercial" else 0)
        carried_in = rng.randint(0, max(1, new // 10)) if busy else 0
        carried_out = rng.randint(0, (new + carried_in) // 8) if new + carried_in else 0
        done = new + carried_in - carried_out
        weights = [6, 2] + [0.2] * 8 + [2, 0.5, 0.3] + [0.5, 0.5, 0.1, 0.1, 0.1] + [0.3] * (len(results) - 18)
        counts = [0] * len(results)
        for _ in range(done):
            counts[rng.choices(range(len(results)), weights=weights[: len(results)])[0]] += 1
        v[f"s3.new.{col}"] = new
        v[f"s3.carried_in.{col}"] = carried_in
        v[f"s3.carried_out.{col}"] = carried_out
        for r, n in zip(results, counts):
            v[f"s3.{r}.{col}"] = n
    # section 二
    for key, cell in form.cells.items():
        if cell.section != "s2" or cell.derived:
            continue
        col = cell.col.key
        row = cell.row.key
        if row == "regulation":
            v[key] = 0
        elif col in ("issued", "new_made", "new_published"):
            v[key] = rng.randint(0, 6)
        elif col == "repealed":
            v[key] = rng.randint(0, 2)
        elif col in ("in_force", "total_public"):
            v[key] = 0
        elif col == "amount_wan":
            v[key] = Decimal(rng.randint(0, 250000)) / Decimal(10000) if unit_type.endswith("部门") else Decimal(0)
        elif col == "change":
            v[key] = rng.randint(-5, 5)
        elif col == "amount":
            v[key] = Decimal(rng.randint(0, 500000)) / Decimal(100)
        else:
            v[key] = rng.randint(0, 800) if busy else rng.randint(0, 60)
    # 现行有效/对外公开总数 ≥ what was issued this year
    for r in ("regulation", "normative_doc"):
        if f"s2.{r}.in_force" in form.cells:
            v[f"s2.{r}.in_force"] = v[f"s2.{r}.issued"] + (rng.randint(3, 40) if r == "normative_doc" else 0)
        if f"s2.{r}.total_public" in form.cells:
            v[f"s2.{r}.total_public"] = v[f"s2.{r}.new_published"] + (rng.randint(3, 40) if r == "normative_doc" else 0)
    # section 四
    cases = rng.choice([0, 0, 0, 1, 2]) if busy else 0
    for g in ("review", "lit_direct", "lit_after_review"):
        split = _split(rng, cases if g == "review" else rng.choice([0, 0, cases]), 4)
        for col, n in zip(("upheld", "corrected", "other", "pending"), split):
            v[f"s4.{g}.{col}"] = n
    # section 六 fees (2021 format): almost always zero
    if "s6.fee_notices" in form.fields:
        notices = rng.choice([0] * 9 + [1])
        v["s6.fee_notices"] = notices
        v["s6.fee_notice_amount"] = Decimal(notices * 100)
        v["s6.fee_collected"] = Decimal(notices * 100 if rng.random() < 0.7 else 0)
        if v.get("s3.r6_2.natural", 0) and not notices:
            v["s3.r6_1.natural"] = v.get("s3.r6_1.natural", 0) + v["s3.r6_2.natural"]
            v["s3.r6_2.natural"] = 0
        for col in appl:
            if col != "natural" and v.get(f"s3.r6_2.{col}") and not notices:
                v[f"s3.r6_3.{col}"] += v[f"s3.r6_2.{col}"]
                v[f"s3.r6_2.{col}"] = 0
    # narrative
    if figures is not None:
        v.update({k: figures[k] for k in v if k in figures and (k in form.cells or k.startswith("s6."))})
    d = compute_derived(form, v)
    n_new = d["s3.new.total"]
    n_cases = sum(d[f"s4.{g}.total"] for g in ("review", "lit_direct", "lit_after_review"))
    short = unit_name.replace("人民政府", "").replace("示例县", "")
    pick = rng.choice
    docs = v.get("s2.normative_doc.issued", v.get("s2.normative_doc.new_made", 0))
    v["s1.overview"] = pick(
        [
            f"{year}年，{unit_name}坚持以公开为常态、不公开为例外，认真贯彻落实《中华人民共和国政府信息公开条例》，政府信息公开工作有序开展。",
            f"{year}年，{short}围绕中心工作，把政务公开作为转变作风、服务群众的重要抓手，各项工作按计划推进。",
            f"本年度，{short}严格执行《中华人民共和国政府信息公开条例》，健全公开制度，规范公开流程，公开质量稳步提升。",
        ]
    )
    n_items = rng.randint(20, 400)
    v["s1.active"] = pick(
        [
            f"{year}年通过政府门户网站信息公开专栏主动公开政府信息{n_items}条，其中机构职能、财政预决算、重点领域信息等按规定及时更新；全年制发行政规范性文件{docs}件。",
            f"全年主动公开各类政府信息{n_items}条，重点做好惠民政策、财政资金、民生项目等信息的公开，制发的{docs}件行政规范性文件均按规定公开。",
            f"围绕群众关切，全年发布政府信息{n_items}条，对涉及群众切身利益的政策文件同步开展解读；行政规范性文件制发{docs}件，全部在专栏公开。",
        ]
    )
    if n_new:
        v["s1.on_request"] = pick(
            [
                f"{year}年共收到政府信息公开申请{n_new}件，均在法定期限内答复。",
                f"全年新收政府信息公开申请{n_new}件，严格按照法定程序登记、审核、答复，未发生逾期答复。",
            ]
        )
    else:
        v["s1.on_request"] = pick(
            [f"{year}年未收到政府信息公开申请。", "本年度未收到政府信息公开申请，依申请公开渠道保持畅通。"]
        )
    v["s1.management"] = pick(
        [
            "严格落实公开属性源头认定和发布前保密审查制度，定期清理规范性文件，及时更新政府信息公开指南。",
            "建立信息发布前“一事一审”机制，公文起草时即明确公开属性；对现行有效文件开展清理，动态更新公开目录。",
            "完善政府信息管理台账，规范信息采集、审核、发布流程，做好公开信息的动态调整和过期信息的清理。",
        ]
    )
    v["s1.platform"] = pick(
        [
            "持续加强政府网站信息公开专栏和政务新媒体建设管理，规范栏目设置，确保信息发布及时准确。",
            "以县政府门户网站专栏为第一平台，在办事大厅和村（社区）设置公开栏，方便群众就近查阅。",
            "优化专栏栏目结构，清理空白栏目和过期内容，政务新媒体账号与网站同步发布重要信息。",
        ]
    )
    v["s1.supervision"] = pick(
        [
            "明确分管领导和专人负责政府信息公开工作，将政务公开纳入年度绩效考核，组织业务培训1次。",
            "成立政务公开工作领导小组，定期研究部署；开展专题培训，提升工作人员业务能力。",
            "建立工作责任制和信息发布审核制度，主动接受社会监督，畅通意见反馈渠道。",
        ]
    ) + (
        "本年度因政府信息公开工作被申请行政复议、提起行政诉讼共" + str(n_cases) + "件。"
        if n_cases
        else "本年度未发生因政府信息公开工作被申请行政复议、提起行政诉讼的情况。"
    )
    unit = form.unit_type(unit_type)
    if unit is not None and unit.government:
        v["s1.assessment"] = pick(
            [
                "将政府信息公开工作纳入年度考核，组织开展社会评议，本年度未发生政府信息公开工作责任追究情况。",
                "县政务公开考核中结果为良好；通过“好差评”收集群众评议意见，均已反馈；未发生责任追究。",
            ]
        )
    v["s5.problems"] = pick(
        [
            "一是主动公开的深度和广度还需拓展；二是政策解读形式较为单一。",
            "一是个别栏目更新不够及时；二是工作人员业务能力有待提升。",
            "一是公开内容与群众需求结合不够紧密；二是基层公开标准目录落实还不到位。",
        ]
    )
    v["s5.improvements"] = pick(
        [
            f"{year + 1}年，{short}将进一步加强业务培训，丰富政策解读形式，提升政府信息公开工作质量。",
            f"{year + 1}年，将建立栏目更新台账，按月检查，并开展一次全员业务培训。",
            f"{year + 1}年，将对照标准目录逐项完善公开内容，围绕群众关注的热点加强解读回应。",
        ]
    )
    v["meta.contact_person"] = rng.choice(["张明", "李华", "王丽", "赵强", "陈静"])
    v["meta.contact_phone"] = f"0{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}"
    return v
