"""The report of ``lowrank reproduce``: sections (a CSV, a plot, a reading written from the numbers,
the command that regenerates it, the claims checked), written as CSV files and one self-contained
``index.html`` (plots embedded as PNG data URIs, no script, no external file).

Every number in the HTML is a string of a CSV cell or is formatted from a CSV row by the same
function (:func:`fmt`), so the test suite can check that the page and the files agree."""
from __future__ import annotations

import base64
import csv
import html
import io
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence


# Unit roundoff of the working precisions, the one table the experiments' bounds use.
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24}


def fmt(x, digits: int = 3) -> str:
    """The one number format of the report and its CSVs: %.{digits}e for floats (nan -> "nan",
    failed -> "failed"), str for the rest."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v != v:
        return "nan"
    return f"{v:.{digits}e}"


@dataclass
class Claim:
    """A statement of a paper checked on this run's numbers: ``holds`` and the numbers behind it."""
    text: str
    holds: bool
    detail: str


@dataclass
class Section:
    key: str                 # file stem: KEY.csv, KEY.png
    title: str
    paper: str               # which paper's claim
    columns: List[str]
    rows: List[List[str]]    # already formatted with fmt(): the CSV holds these strings
    reading: str             # one paragraph, written from the numbers
    command: str             # the exact command that regenerates this section
    plot_png: Optional[bytes] = None
    claims: List[Claim] = field(default_factory=list)
    extra_images: List[tuple] = field(default_factory=list)  # (caption, png bytes)
    seconds: float = 0.0

    def write_csv(self, folder: str) -> str:
        path = os.path.join(folder, self.key + ".csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            w.writerows(self.rows)
        return path


def png_of(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def figure(width: float = 7.0, height: float = 4.0, ncols: int = 1):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, ncols, figsize=(width, height))
    return fig, ax


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:2.2em;border-bottom:1px solid #ccc}
.meta{color:#555;font-size:.9em} .paper{color:#666;font-size:.85em;font-weight:normal}
table{border-collapse:collapse;font-size:.8em;margin:.8em 0;font-variant-numeric:tabular-nums}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.scroll{max-height:420px;overflow:auto;display:inline-block;max-width:100%}
code,pre{background:#f6f6f6;padding:1px 4px;font-size:.85em} pre{padding:6px;white-space:pre-wrap}
.ok{color:#1a7f37;font-weight:bold} .no{color:#c62828;font-weight:bold}
img{max-width:100%;border:1px solid #eee} ul.claims{padding-left:1.2em}
table.toc td,table.toc th{white-space:normal;text-align:left;vertical-align:top} table.toc{font-size:.85em}
"""


def write_html(folder: str, title: str, intro: str, sections: Sequence[Section], meta: Dict[str, str]) -> str:
    out = io.StringIO()
    e = html.escape
    out.write(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
              f"<style>{_CSS}</style></head><body>\n<h1>{e(title)}</h1>\n")
    out.write("<p class='meta'>" + " &middot; ".join(f"{e(k)}: {e(v)}" for k, v in meta.items()) + "</p>\n")
    out.write(f"<p>{intro}</p>\n")
    n_claims = sum(len(s.claims) for s in sections)
    n_hold = sum(c.holds for s in sections for c in s.claims)
    out.write(f"<p id='summary'><b>{n_hold} of {n_claims} checked claims hold</b> on this run "
              f"({n_claims - n_hold} do not; each is listed in its section with its numbers).</p>\n")
    out.write("<table class='toc'><thead><tr><th>section</th><th>paper</th><th>claim checked on this run</th>"
              "<th>result</th></tr></thead><tbody>\n")
    for s in sections:
        claims = s.claims or [Claim("(no claim: a measurement)", True, "")]
        for i, c in enumerate(claims):
            head = (f"<td rowspan='{len(claims)}'><a href='#{e(s.key)}'>{e(s.title)}</a></td>"
                    f"<td rowspan='{len(claims)}'>{e(s.paper)}</td>") if i == 0 else ""
            res = "-" if not s.claims else (f"<span class='ok'>holds</span>" if c.holds else "<span class='no'>does not hold</span>")
            out.write(f"<tr>{head}<td class='claim'>{e(c.text)}</td><td>{res}</td></tr>\n")
    out.write("</tbody></table>\n")
    for s in sections:
        out.write(f"<h2 id='{e(s.key)}'>{e(s.title)} <span class='paper'>({e(s.paper)})</span></h2>\n")
        out.write(f"<p class='reading'>{e(s.reading)}</p>\n")
        if s.claims:
            out.write("<ul class='claims'>")
            for c in s.claims:
                cls, word = ("ok", "holds") if c.holds else ("no", "does not hold")
                out.write(f"<li><span class='{cls}'>{word}</span>: {e(c.text)} <span class='meta'>({e(c.detail)})</span></li>")
            out.write("</ul>\n")
        if s.plot_png:
            out.write(f"<img alt='{e(s.title)}' src='data:image/png;base64,{base64.b64encode(s.plot_png).decode()}'>\n")
        for caption, png in s.extra_images:
            out.write(f"<p class='meta'>{e(caption)}</p><img alt='{e(caption)}' "
                      f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>\n")
        out.write(f"<div class='scroll'><table data-csv='{e(s.key)}.csv'><thead><tr>")
        out.write("".join(f"<th>{e(c)}</th>" for c in s.columns) + "</tr></thead><tbody>\n")
        for r in s.rows:
            out.write("<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>\n")
        out.write("</tbody></table></div>\n")
        out.write(f"<p class='meta'>Data: <code>{e(s.key)}.csv</code> &middot; {s.seconds:.0f} s &middot; "
                  f"regenerate: <code>{e(s.command)}</code></p>\n")
    out.write("</body></html>\n")
    path = os.path.join(folder, "index.html")
    with open(path, "w") as f:
        f.write(out.getvalue())
    return path
