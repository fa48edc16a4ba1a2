"""The HTML report in a real browser: headless Chromium loads it from disk (no network), runs its
inline check script, and must see no script errors, every image decoded and every section; the
screenshot must be a non-empty PNG. Skipped only when Chromium is absent and
BAYES_SCALING_REQUIRE_BROWSER is unset (CI sets it, so there a missing browser fails)."""

from __future__ import annotations

import os

import pytest

from bayes_scaling.report import OPTIONAL_SECTIONS, SECTION_IDS, ReportConfig, build_report, check_report_html, find_chromium, write_report
from bayes_scaling.testing import fake_fit

if find_chromium() is None and not os.environ.get("BAYES_SCALING_REQUIRE_BROWSER"):
    pytest.skip("Chromium not found (set BAYES_SCALING_REQUIRE_BROWSER=1 to make this a failure)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "report.html"
    write_report(build_report(fake_fit(seed=3), ReportConfig(refits=False)), path)
    return path


def test_report_renders_without_errors_and_every_image_loads(report_file, tmp_path):
    assert find_chromium() is not None, "BAYES_SCALING_REQUIRE_BROWSER is set but no Chromium was found"
    shot = tmp_path / "report.png"
    expected = [s for s in SECTION_IDS if s not in OPTIONAL_SECTIONS]
    chk = check_report_html(report_file, screenshot=shot, expected_sections=expected)
    assert chk.problems == []
    assert chk.js_errors == 0 and chk.images_total == 5 and chk.images_loaded == 5
    assert chk.sections == expected
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 4000)
        assert im.convert("L").getextrema()[0] < 100  # something dark (text, axes) was drawn


def test_the_check_catches_a_broken_image_and_a_script_error(report_file, tmp_path):
    """The in-page check is not vacuous: a corrupt image and a throwing script are reported."""
    html = report_file.read_text(encoding="utf-8")
    head, _, rest = html.partition('src="data:image/png;base64,')
    broken = head + 'src="data:image/png;base64,AAAA"' + rest.split('"', 1)[1]
    broken = broken.replace("</body>", "<script>throw new Error('boom')</script></body>")
    bad = tmp_path / "broken.html"
    bad.write_text(broken, encoding="utf-8")
    chk = check_report_html(bad, expected_sections=["data", "no-such-section"])
    assert chk.js_errors == 1 and "boom" in chk.js_error_messages
    assert chk.images_total == 5 and chk.images_loaded == 4
    assert any("no-such-section" in p for p in chk.problems) and not chk.ok
