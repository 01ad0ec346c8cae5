"""The report templates shipped with gkxlsx (installed as the package ``gkxlsx.templates``).

Not code: Jinja templates read by :mod:`gkxlsx.render.renderer`; see README.md here for overriding them.
"""
