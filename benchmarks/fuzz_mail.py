"""Mail fuzzing, the long run: hostile mails through ``process_messages`` as ``gkxlsx fetch`` imports them.

    python benchmarks/fuzz_mail.py                    # 2000 mails, seed 1
    python benchmarks/fuzz_mail.py --n 20000 --seed 7

The mails come from ``fuzz_mails`` of ``tests/_mail_helpers.py`` (the generator ``tests/test_hostile_mail.py``
runs 150 of): hostile subjects, senders, charsets that are not character sets (``unicode_escape``,
``rot13``, ``zlib_codec`` …), UTF-7 lone surrogates, names too long or with path parts and control
characters, junk and empty attachments, around good workbooks of a three-unit campaign in a
temporary folder.  Prints mails per second and the outcome counts; exits 1 when a mail could not be
processed (an exception inside), a good workbook was not imported, or a line could not be printed,
and 2 when an exception escaped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _mail_helpers import fuzz_mails, fuzz_problems, make_campaign, returned_workbook  # noqa: E402

from gkxlsx.mail.mail import RawMail, process_messages  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="number of mails (default 2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=20, help="problems printed at most")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gkxlsx-fuzz-mail-") as tmp:
        camp = make_campaign(Path(tmp), n=3, generate=False)
        try:
            codes = ("SLX001", "SLX002", "SLX003")
            wbs = {c: [returned_workbook(camp, c, seed=s) for s in (3, 4)] for c in codes}
            senders = {c: camp.unit(c).email for c in codes}
            t0 = time.perf_counter()
            mails = list(fuzz_mails(args.seed, args.n, wbs, senders))
            t1 = time.perf_counter()
            try:
                rep = process_messages(camp, (RawMail(m.data, f"fuzz {i}") for i, m in enumerate(mails)))
            except Exception:  # noqa: BLE001 - the one thing that must never happen
                traceback.print_exc()
                print(f"seed {args.seed}: an exception escaped process_messages")
                return 2
            t2 = time.perf_counter()
            counts, problems = fuzz_problems(camp, mails, rep)
        finally:
            camp.close()
    print(f"seed {args.seed}: {args.n} mails generated in {t1 - t0:.2f} s, processed in {t2 - t1:.2f} s")
    print(f"{args.n / (t2 - t1):.1f} mails/s")
    for k in sorted(counts):
        print(f"  {k:24} {counts[k]}")
    if problems:
        print(f"{len(problems)} problems:")
        for p in problems[: args.show]:
            print("  " + p[:500])
        return 1
    print("0 problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
