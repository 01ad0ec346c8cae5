#!/bin/sh
# Re-render the example reports and their pictures (needs LibreOffice, poppler-utils, chromium).
#   sh examples/reports/regenerate.sh
set -e
cd "$(dirname "$0")/../.."
out=examples/reports
for f in examples/report_data/*.json; do
  gkxlsx render --data "$f" --to html,md,txt,docx,pdf --out "$out"
done
# a draft (the 财政局 data with one wrong number) to show the stamping
python - <<'PY'
import json, pathlib, tempfile, subprocess
d = json.loads(pathlib.Path("examples/report_data/czj_caizhengju.json").read_text(encoding="utf-8"))
d["values"]["s3.new.natural"] = 15
with tempfile.TemporaryDirectory() as t:
    p = pathlib.Path(t) / "draft.json"
    p.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    subprocess.run(["gkxlsx", "render", "--data", str(p), "--to", "pdf", "--draft", "--out", "examples/reports"], check=True)
PY
base=SLX001_示例县城关镇人民政府_2025年政府信息公开工作年度报告
rm -f "$out"/pages/*.png
mkdir -p "$out/pages"
pdftoppm -r 60 -png "$out/$base.pdf" "$out/pages/cgz_word_page"
pdftoppm -r 60 -png -f 1 -l 1 "$out/SLX101_示例县财政局_2025年政府信息公开工作年度报告_草稿.pdf" "$out/pages/czj_draft_page"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars \
  --force-device-scale-factor=0.7 --window-size=900,4550 --screenshot="$out/pages/cgz_html.png" "file://$PWD/$out/$base.html"
