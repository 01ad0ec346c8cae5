"""The rule language: each rule is declared once in the form data and compiled to every backend.

* :mod:`~gkxlsx.rules.nodes` — the expression tree and the :class:`~gkxlsx.rules.nodes.Visitor` base;
* :mod:`~gkxlsx.rules.parser` — text → tree (rule expressions and ``when`` conditions);
* one visitor per backend: :mod:`~gkxlsx.rules.interpret` (Python evaluation, and the one ``when``
  evaluator), :mod:`~gkxlsx.rules.codegen` (the checker's compiled fast path),
  :mod:`~gkxlsx.rules.excel` (the workbook's check formulas), :mod:`~gkxlsx.rules.text` (the rule
  language printed back, conditions and sums in Chinese);
* :mod:`~gkxlsx.rules.engine` — rule instances (``Form.rules``: expanded per column, derived-cell
  rules), their evaluation and findings, and the recomputed totals;
* :mod:`~gkxlsx.rules.evaluate` — every rule on one report's values (``check``).
"""
