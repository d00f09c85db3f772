"""The page's inline stylesheet and its one small script (selectors submit on change)."""

from __future__ import annotations

STYLE = """
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;
--ok:#16a34a;--warning:#d97706;--critical:#dc2626;--unknown:#9aa5b1}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header.top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;
gap:12px;padding:14px 24px;background:var(--card);border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0;display:flex;align-items:center;gap:10px}
h2{font-size:16px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:0;word-break:break-all}
h4{font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted);margin:10px 0 2px}
main{padding:0 24px 40px;max-width:1480px}
.meta{margin:4px 0 0;color:var(--muted)}
.links{padding:6px 24px;background:var(--card);border-bottom:1px solid var(--line);
color:var(--muted);font-size:13px}
a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
.selector{display:flex;gap:10px;align-items:center}
.selector select,.selector button{font:inherit;padding:3px 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px;
align-items:start}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card.drifted{border-color:var(--critical);box-shadow:inset 4px 0 0 var(--critical)}
.card header{display:flex;gap:8px;align-items:center;margin-bottom:6px}
.kind{color:var(--muted);font-size:12px;flex:1}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;
font-weight:600;color:#fff;background:var(--unknown);white-space:nowrap}
.badge.ok{background:var(--ok)}.badge.warning{background:var(--warning)}
.badge.critical{background:var(--critical)}.badge.big{font-size:14px;padding:2px 12px}
.figures{display:grid;grid-template-columns:repeat(4,auto);gap:0 10px;margin:0;font-size:12px}
.figures dt{color:var(--muted);grid-row:1}.figures dd{margin:0;grid-row:2;font-weight:600}
.figures small{color:var(--muted);font-weight:400}
svg.chart{width:100%;height:auto;display:block}
.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:12px;color:var(--muted);margin:4px 0}
.key{display:inline-flex;align-items:center;gap:4px}
table{border-collapse:collapse;width:100%;font-size:13px}
.signals{background:var(--card);border:1px solid var(--line)}
.signals th,.signals td{text-align:left;padding:4px 10px;border-bottom:1px solid var(--line)}
.signals tr.ok td,.signals tr.ok th,.signals tr.unknown td,
.signals tr.unknown th{color:var(--muted)}
.figures-table th{text-align:left;font-weight:400;color:var(--muted);padding:2px 0}
.figures-table td{text-align:right;font-weight:600}
.groups{margin-top:6px;font-size:12px}.groups th,.groups td{padding:2px 4px;text-align:right}
.groups th:first-child{text-align:left}
.note{color:var(--muted);font-size:13px}.note.error{color:var(--critical)}
"""

SCRIPT = (
    "document.querySelectorAll('select[data-autosubmit]').forEach(function(s){"
    "s.addEventListener('change',function(){s.form.submit();});});"
)
