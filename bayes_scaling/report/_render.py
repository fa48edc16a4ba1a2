"""Render a :class:`Report` as one self-contained HTML file (figures as base64 PNG, inline CSS,
no external resources) or as Markdown with the figures as PNG files next to it; both written
atomically (temporary files renamed into place)."""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

from bayes_scaling.files import check_out_file, write_files_atomic
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.report._model import Fig, Para, Report, Table

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1180px;
padding:1.2em 1.6em 3em;color:#1d2330;line-height:1.45;font-size:15px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;border-bottom:2px solid #d6dce6;padding-bottom:.2em;margin-top:1.8em}
.sub{color:#555;margin:0 0 1em}nav ol{columns:2;font-size:.92em;color:#333}nav a{color:#1f4e8c;text-decoration:none}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.88em}th,td{border:1px solid #d6dce6;padding:.25em .55em;
text-align:left;vertical-align:top}th{background:#eef2f7}td{font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:.2em 0}
figure{margin:.8em 0 1.4em}figure img{max-width:100%;height:auto;border:1px solid #e3e7ee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
p.flag{background:#fdecea;border-left:4px solid #c0392b;padding:.4em .7em}
code{background:#f2f4f7;padding:0 .25em;border-radius:3px;font-size:.92em;word-break:break-all}
"""

# Records script errors and whether every image decoded, on <body> (read back by a headless browser).
_CHECK_SCRIPT = """
(function(){var errors=[];
window.onerror=function(msg){errors.push(String(msg));if(document.body){document.body.setAttribute('data-js-errors',String(errors.length));}};
window.addEventListener('load',function(){var imgs=document.images,ok=0;
for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){ok++;}}
var b=document.body;b.setAttribute('data-images-total',String(imgs.length));b.setAttribute('data-images-loaded',String(ok));
b.setAttribute('data-js-errors',String(errors.length));b.setAttribute('data-js-error-messages',errors.join(' | '));
b.setAttribute('data-render-check','done');});})();
"""


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape, then render `code` spans."""
    parts = str(text).split("`")
    return "".join(f"<code>{_esc(p)}</code>" if i % 2 else _esc(p) for i, p in enumerate(parts))


def render_html(report: Report) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(report.title)}</title>", f"<style>{_CSS}</style>",
           f"<script>{_CHECK_SCRIPT}</script>", "</head>", '<body data-render-check="pending">',
           f"<h1>{_esc(report.title)}</h1>", f'<p class="sub">{_inline(report.subtitle)}</p>',
           "<nav><ol>" + "".join(f'<li><a href="#{_esc(s.id)}">{_esc(s.title)}</a></li>' for s in report.sections)
           + "</ol></nav>"]
    for sec in report.sections:
        out.append(f'<section id="{_esc(sec.id)}">')
        out.append(f"<h2>{_esc(sec.title)}</h2>")
        for item in sec.items:
            if isinstance(item, Para):
                out.append(f'<p class="flag">{_inline(item.text)}</p>' if item.flag else f"<p>{_inline(item.text)}</p>")
            elif isinstance(item, Table):
                rows = ["<table>"]
                if item.caption:
                    rows.append(f"<caption>{_inline(item.caption)}</caption>")
                if any(item.header):
                    rows.append("<thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in item.header) + "</tr></thead>")
                rows.append("<tbody>")
                for r in item.rows:
                    rows.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>")
                rows.append("</tbody></table>")
                out.append("".join(rows))
            elif isinstance(item, Fig):
                data = base64.b64encode(item.png).decode("ascii")
                size = f' width="{item.width_px}" height="{item.height_px}"' if item.width_px else ""
                out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(item.alt)}"{size}>'
                           f"<figcaption>{_inline(item.caption)}</figcaption></figure>")
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


_MD_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_"})


def _md_plain(text: str) -> str:
    """Text as literal Markdown: HTML escaped (a label such as ``<img ...>`` stays text), backslashes,
    backticks and emphasis marks escaped (N*, alpha_N are literal), and a ``]`` that would close a link
    (``](`` or ``][``) escaped; the brackets of ``median [lo, hi]`` are left as they are."""
    return html.escape(re.sub(r"\](?=[(\[])", r"\\]", text.translate(_MD_SPECIALS)), quote=False)


def _md_text(text: str) -> str:
    """Markdown-safe text: :func:`_md_plain` outside `code` spans, which are kept."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick (e.g. in a group label) is text, not the start of code
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    return "`".join(p if i % 2 else _md_plain(p) for i, p in enumerate(parts))


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, figure_names: dict[str, str]) -> str:
    """Markdown with the same sections; ``figure_names`` maps figure names to their PNG file names."""
    out = [f"# {_md_text(report.title)}", "", _md_text(report.subtitle), ""]
    out += [f"{i}. [{_md_text(s.title)}](#{s.id})" for i, s in enumerate(report.sections, start=1)] + [""]
    for sec in report.sections:
        out += [f'<a id="{sec.id}"></a>', "", f"## {_md_text(sec.title)}", ""]
        for item in sec.items:
            if isinstance(item, Para):
                text = _md_text(item.text)
                out += [f"> **Warning:** {text}" if item.flag else text, ""]
            elif isinstance(item, Table):
                if item.caption:
                    out += [f"**{_md_text(item.caption)}**", ""]
                out.append("| " + " | ".join(_md_cell(h) or " " for h in item.header) + " |")
                out.append("|" + "---|" * len(item.header))
                out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in item.rows]
                out.append("")
            elif isinstance(item, Fig):
                out += [f"![{_md_text(item.alt)}](<{figure_names[item.name]}>)", "", f"*{_md_text(item.caption)}*", ""]
    return "\n".join(out)


def check_out_path(out: str | os.PathLike, fmt: str | None) -> tuple[Path, str]:
    """Validate the output path (existing folder, suffix matching the format); (path, format)."""
    path = Path(out)
    suffix = path.suffix.lower()
    by_suffix = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}.get(suffix)
    if fmt is None:
        if by_suffix is None:
            raise BayesScalingError(f"--out {str(out)!r} should end in .html or .md (or give --format html|md)")
        fmt = by_suffix
    if fmt not in ("html", "md"):
        raise BayesScalingError(f"--format must be html or md, got {fmt!r}")
    if by_suffix is not None and by_suffix != fmt:
        raise BayesScalingError(f"--out {str(out)!r} ends in {suffix} but --format is {fmt}: make them agree")
    return check_out_file(path, f"give a file name such as report.{fmt}"), fmt


def write_report(report: Report, out: str | os.PathLike, fmt: str | None = None) -> list[Path]:
    """Write ``report`` to ``out`` (HTML: one file; Markdown: the .md and one PNG per figure next to
    it, named ``<stem>_<figure>.png``). Returns the paths written, the document last."""
    path, fmt = check_out_path(out, fmt)
    if fmt == "html":
        return write_files_atomic({path: render_html(report).encode("utf-8")})
    figs = [item for sec in report.sections for item in sec.items if isinstance(item, Fig)]
    names = {f.name: f"{path.stem}_{f.name}.png" for f in figs}
    files = {path.parent / names[f.name]: f.png for f in figs}
    files[path] = render_markdown(report, names).encode("utf-8")
    return write_files_atomic(files)
