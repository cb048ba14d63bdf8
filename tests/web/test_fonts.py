"""Chinese text renders as glyphs, not boxes, in the browser the page tests use."""

from __future__ import annotations

from typing import Any

PAGE = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<style>body{margin:0;background:#fff}span{font:48px sans-serif;color:#000;
display:inline-block;padding:4px}</style></head><body>
<span id="a">通知</span><span id="b">签收</span><span id="none">\ue000\ue001</span>
</body></html>"""


def test_cjk_text_renders_real_glyphs(browser: Any) -> None:
    """A character with no font renders as the same box as any other missing one
    (here two private-use code points no font covers): with a CJK font installed,
    two different words give two different images, and neither is the box image."""
    page = browser.new_page()
    try:
        page.set_content(PAGE)
        page.evaluate("document.fonts.ready")
        shots = {key: page.locator(f"#{key}").screenshot() for key in ("a", "b", "none")}
    finally:
        page.close()
    assert shots["a"] != shots["none"], "通知 renders as missing-glyph boxes: no CJK font"
    assert shots["b"] != shots["none"], "签收 renders as missing-glyph boxes: no CJK font"
    assert shots["a"] != shots["b"]
