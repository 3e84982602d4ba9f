"""llmkit's copy of llama.cpp's Unicode classes agrees with the installed llama.cpp."""

from __future__ import annotations

import pytest
from llama_unicode import classes, encode, llama_flags

from llmkit.tokens import unicode_classes


@pytest.mark.model
def test_the_generated_classes_match_the_installed_llama_cpp():
    expected = {name: encode(spans) for name, spans in classes(llama_flags()).items()}
    for name, ranges in expected.items():
        stored = " ".join(getattr(unicode_classes, name).split())
        assert stored == ranges, (
            f"{name} differs from llama.cpp's; regenerate: python tests/tokens/llama_unicode.py "
            "> src/llmkit/tokens/unicode_classes.py"
        )


def in_class(ranges: str, cpt: int) -> bool:
    for span in ranges.split():
        first, _, last = span.partition("-")
        if int(first, 16) <= cpt <= int(last or first, 16):
            return True
    return False


def test_the_classes_are_what_the_pre_tokenizer_expands():
    from llmkit.tokens.pretokenize import expand

    assert expand("[«L»]").startswith("[\\x{41}-\\x{5A}\\x{61}-\\x{7A}")
    assert expand("[«N»]").startswith("[\\x{30}-\\x{39}")
    assert in_class(unicode_classes.LETTER, ord("é")) and in_class(unicode_classes.NUMBER, 0xB2)
    # llama.cpp's tables predate Unicode 16: Todhri (U+105C0) is no letter for it
    assert not in_class(unicode_classes.LETTER, 0x105C0)
    # its whitespace is Unicode's White_Space: U+001C..U+001F are not in it
    spaces = [c for c in range(0x3001) if in_class(unicode_classes.WHITESPACE, c)]
    assert spaces == [9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                      0x2028, 0x2029, 0x202F, 0x205F, 0x3000]  # fmt: skip
