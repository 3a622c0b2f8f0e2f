"""Words and pictures (issue 16 §12–17b): what the pages say, checked without a browser."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Characters that draw as an empty box on a Linux machine without an emoji font: the
# pictograph planes, Misc Symbols and Dingbats (⚠ ✅ ❌ ✖), the emoji of Misc Technical
# (⏹ ⏱ ⏳ ⌛, not the ⌊ ⌋ of the formula), arrows/stars of U+2B00 (⬇ ⭐), the emoji
# variation selector and full-width forms (＋).  Plain arrows (→ ↑ ↓ ↺) are in every font.
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u231A\u231B\u2328\u23CF\u23E9-\u23FA"
                   "\u2B00-\u2BFF\uFE0F\uFF01-\uFF5E\u2139\u24C2]")


def _ui_sources() -> list[Path]:
    return sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("explorer/*.py")])


def emoji_outside_comments(path: Path) -> list[str]:
    """Every emoji in the file's code and strings (comments are not shown to anyone)."""
    hits = []
    toks = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for tok in toks:
        if tok.type == tokenize.COMMENT:
            continue
        for m in EMOJI.finditer(tok.string):
            hits.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {m.group()!r} (U+{ord(m.group()):04X})")
    return hits


def test_the_pattern_catches_the_reported_emoji_and_spares_the_formula():
    for ch in "🚀⏹️⏱🗑＋✅⏳🏃❌⚠✖ℹ⬇":
        assert EMOJI.search(ch), ch
    for ch in "→↑↓↺⌊⌋⌈⌉×−·≈…":
        assert not EMOJI.search(ch), ch


def test_no_emoji_in_the_ui_sources():
    hits = [h for p in _ui_sources() for h in emoji_outside_comments(p)]
    assert not hits, "use Material icons (':material/name:') instead:\n" + "\n".join(hits)


# ---- 15: one upload limit, said once ------------------------------------------------------
SIZE_WORDS = re.compile(r"\d\s*(KB|MB|GB|kB|KiB|MiB)\b")


def _uploaders(at) -> list:
    return [(u.proto.label, u.proto.max_upload_size_mb) for u in at.get("file_uploader")]


def test_the_network_upload_states_one_limit_the_one_the_code_enforces():
    from streamlit.testing.v1 import AppTest

    from explorer import editor

    at = AppTest.from_file(str(ROOT / "pages" / "architecture.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    [(label, mb)] = _uploaders(at)
    assert not SIZE_WORDS.search(label), f"the widget itself says 'Limit {mb}MB per file'; the label repeats one: {label}"
    assert mb * 2**20 == editor.MAX_UPLOAD_BYTES, "the limit the widget states is the one parse_network_json applies"


def test_the_activations_uploads_state_their_limit_once():
    import tomllib

    from streamlit.testing.v1 import AppTest

    from alexnet import activations as A

    server_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert server_mb * 2**20 == A.MAX_UPLOAD_BYTES
    at = AppTest.from_file(str(ROOT / "pages" / "activations.py"), default_timeout=120)
    at.session_state["act_src"] = "Upload"
    at.session_state["act_wsrc"] = "Local .pth file"
    at.run()
    assert not at.exception, at.exception
    found = _uploaders(at)
    assert len(found) == 2, found
    for label, _ in found:
        assert not SIZE_WORDS.search(label), f"the widget already says its limit; the label repeats one: {label}"
