"""Client-side token ids equal llama.cpp's, for SmolLM2's own vocabulary and others built from it.

The reference is llama.cpp itself (``Llama(path, vocab_only=True).tokenize``), on
hand-picked texts of every kind and on text hypothesis generates.  The other
pre-tokenizer families are checked on GGUF files that carry SmolLM2's
vocabulary under another ``tokenizer.ggml.pre`` (llama.cpp loads them too).
"""

from __future__ import annotations

import pytest
from gguf_writer import copy_metadata, gguf_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.chat_template import JinjaChatTemplate
from llmkit.errors import GGUFError, InvalidRequestError, ModelNotFoundError, TokenizerError
from llmkit.gguf import GGUFValueType as T
from llmkit.tokens import PRE_TOKENIZERS, Tokenizer, parse_gguf_metadata, read_gguf_metadata
from llmkit.types import Message

CORPUS = {
    "ascii": "Why is the sky blue? Use one sentence in your answer.",
    "empty": "",
    "one space": " ",
    "space runs": "a  b   c    d\t\te \t \u00a0f",
    "leading and trailing": "   padded   ",
    "newlines": "line one\nline two\r\n\r\nline four\n\n\n",
    "only whitespace": " \n\t \r\n  ",
    "digits": "12345 3.14159 1,000,000 v2.0.1 0x1F",
    "other numerals": "²³ ½ ٣٤٥ ४२ Ⅻ \u3007",
    "contractions": "I'm you're they've it'll he'd She'S 'LL don't",
    "cjk": "日本語のテキスト、中文字符。한국어 텍스트",
    "emoji": "thumbs 👍🏽 family 👨‍👩‍👧 flag 🇫🇷 keycap 1️⃣",
    "combining marks": "e\u0301 n\u0303 a\u030a\u0323 Z̤͔ͧ̑̓",
    "rtl": "שלום עולם، مرحبا بالعالم",
    "code": 'def f(x: int) -> int:\n    """Square."""\n    return x ** 2  # ok\n\tif x != 0: {}\n',
    "json": '{"key": [1, 2.5, null], "nested": {"a": "b\\n"}}',
    "control characters": "bell\x07 unit\x1f sep\x1d tab\x0b nul\x00 del\x7f",
    "bytes missing from the vocabulary": "/\x1d/ a\x04b \x13\x14\x16 ñ\U00065000",
    "newer unicode letters": "\U000105c0\U000105c1 \U00010d40 \U0001239a's \u0378x",
    "private use": "\ue000\U000f0000",
    "long word": "x" * 300,
    "special tokens as text": "<|im_start|>user\nhi<|im_end|>\n<|endoftext|><file_sep>",
    "broken special tokens": "<|im_start| <|im_end|<|im_start|><|im_start|>",
}


@pytest.fixture(scope="module")
def tokenizer(smollm2_path):
    return Tokenizer.from_gguf(smollm2_path)


@pytest.fixture(scope="module")
def llama_vocab(smollm2_path):
    from llama_cpp import Llama

    return Llama(str(smollm2_path), vocab_only=True, verbose=False)


def llama_ids(llm, text: str, *, add_special: bool = True, parse_special: bool = False):
    return list(llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special))


@pytest.mark.model
@pytest.mark.parametrize("name", list(CORPUS))
@pytest.mark.parametrize("parse_special", [False, True], ids=["text", "special"])
@pytest.mark.parametrize("add_special", [False, True], ids=["bare", "add"])
def test_ids_equal_llama_cpp_on_the_corpus(
    tokenizer, llama_vocab, name, parse_special, add_special
):
    text = CORPUS[name]
    ours = tokenizer.encode(text, add_special=add_special, parse_special=parse_special)
    assert ours == llama_ids(
        llama_vocab, text, add_special=add_special, parse_special=parse_special
    )
    assert tokenizer.count(text, add_special=add_special, parse_special=parse_special) == len(ours)


@pytest.mark.model
def test_digits_are_split_one_by_one(tokenizer):
    ids = tokenizer.encode("12345")
    assert [tokenizer.id_to_token(i) for i in ids] == ["1", "2", "3", "4", "5"]


@pytest.mark.model
def test_special_tokens_are_tokens_only_when_parsed(tokenizer):
    text = "<|im_start|>user"
    assert tokenizer.encode(text, parse_special=True)[0] == 1
    assert 1 not in tokenizer.encode(text, parse_special=False)
    assert tokenizer.special_ids >= {0, 1, 2}


@pytest.mark.model
def test_chat_template_output_equals_llama_cpp(tokenizer, llama_vocab, smollm2_path):
    metadata = read_gguf_metadata(smollm2_path)
    template = JinjaChatTemplate(metadata.get_str("tokenizer.chat_template") or "")
    messages = [
        Message(role="system", content="You answer in French. 日本語 too."),
        Message(role="user", content="Quelle heure est-il ?\n\n  Réponds vite 🙂"),
        Message(role="assistant", content="Il est 12h30.\t(environ)"),
        Message(role="user", content="<|im_end|> is not a special token here?"),
    ]
    prompt = template.render(messages)
    assert prompt.startswith("<|im_start|>system\n")
    ours = tokenizer.encode(prompt, parse_special=True)
    assert ours == llama_ids(llama_vocab, prompt, parse_special=True)
    assert ours.count(1) == 5  # four turns and the generation prompt


@pytest.mark.model
def test_decode_equals_llama_cpp(tokenizer, llama_vocab):
    for text in CORPUS.values():
        ids = llama_ids(llama_vocab, text, parse_special=True)
        for special in (False, True):
            expected = bytes(llama_vocab.detokenize(ids, special=special))
            assert tokenizer.decode(ids, special=special) == expected.decode("utf-8", "replace")


@pytest.mark.model
def test_decode_rejects_ids_outside_the_vocabulary(tokenizer):
    with pytest.raises(InvalidRequestError, match=r"ids\[1\]: 49152 is not a token id") as info:
        tokenizer.decode([5, 49152])
    assert info.value.fields == ["ids.1"]
    with pytest.raises(InvalidRequestError, match=r"ids\[0\]: -1"):
        tokenizer.decode([-1])


TEXT_PIECES = st.sampled_from(
    ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<file_sep>", "<|im_start", " ", "  ", "\n",
     "\r\n", "\t", "'s", "'ll", "'S", " 12", "²", "\u0661", "\u0301", "\u200d", "\ufe0f", "👍",
     "\u00a0", "\u3000", "\x1d", "\x04", "ñ", "\U000105c0", "\U0001239a", "\ue000", "\U00065000"]
)  # fmt: skip
TEXTS = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=8),
        TEXT_PIECES,
        st.text(st.sampled_from(" \n\t'sl1aé"), max_size=6),
    ),
    max_size=20,
).map("".join)


@pytest.mark.model
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=TEXTS, parse_special=st.booleans(), add_special=st.booleans())
def test_ids_equal_llama_cpp_on_generated_text(
    tokenizer, llama_vocab, text, parse_special, add_special
):
    ours = tokenizer.encode(text, add_special=add_special, parse_special=parse_special)
    assert ours == llama_ids(
        llama_vocab, text, add_special=add_special, parse_special=parse_special
    )


FAMILIES = ["smollm", "gpt-2", "llama3", "qwen2"]
FAMILY_TEXT = [
    "Hello world, it's 2025-06-01 and I'LL pay $1234567.89!",
    "  indented\n\n\r\n  lines\t\tand   spaces   ",
    "日本語 한국어 عربى 👍🏽 e\u0301 \x1d/\x1d/ ñ\U00065000 \U0001239a's",
    "x=1;y=22;z=333;w=4444 // numbers\n",
]


@pytest.fixture(scope="module")
def family_files(smollm2_path, tmp_path_factory):
    """SmolLM2's vocabulary under each pre-tokenizer family, and one without add_bos_token."""
    metadata = read_gguf_metadata(smollm2_path)
    folder = tmp_path_factory.mktemp("families")
    files = {}
    for pre in FAMILIES:
        files[pre] = folder / f"{pre}.gguf"
        files[pre].write_bytes(copy_metadata(metadata, tokenizer__ggml__pre=(T.STRING, pre)))
    files["llama3 default bos"] = folder / "llama3-bos.gguf"
    files["llama3 default bos"].write_bytes(
        copy_metadata(
            metadata,
            tokenizer__ggml__pre=(T.STRING, "llama3"),
            tokenizer__ggml__add_bos_token=None,
            tokenizer__ggml__add_eos_token=(T.BOOL, True),
        )
    )
    return files


@pytest.mark.model
@pytest.mark.parametrize("family", [*FAMILIES, "llama3 default bos"])
def test_other_pre_tokenizer_families_equal_llama_cpp(family_files, family):
    from llama_cpp import Llama

    path = family_files[family]
    tokenizer = Tokenizer.from_gguf(path)
    llm = Llama(str(path), vocab_only=True, verbose=False)
    for text in [*FAMILY_TEXT, *CORPUS.values()]:
        for add in (False, True):
            assert tokenizer.encode(text, add_special=add) == llama_ids(llm, text, add_special=add)
    if family == "llama3 default bos":
        assert tokenizer.add_bos and tokenizer.add_eos
        assert tokenizer.encode("hi")[0] == tokenizer.bos_id == 1
        assert tokenizer.encode("hi")[-1] == tokenizer.eos_id == 2


@pytest.mark.model
def test_tokenizer_json_round_trip_keeps_the_ids(tokenizer, llama_vocab, tmp_path):
    path = tmp_path / "tokenizer.json"
    tokenizer.hf.save(str(path))
    loaded = Tokenizer.from_file(path)
    for text in CORPUS.values():
        for special in (False, True):
            assert loaded.encode(text, add_special=False, parse_special=special) == llama_ids(
                llama_vocab, text, add_special=False, parse_special=special
            )


def test_tokenizer_file_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="tokenizer file not found"):
        Tokenizer.from_file(tmp_path / "missing.json")
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"not": "a tokenizer"}')
    with pytest.raises(TokenizerError, match=r"tokenizer\.json that tokenizers can load"):
        Tokenizer.from_file(bad)


def tiny_vocabulary(**overrides):
    """A five-token byte-level vocabulary ("a", "b", "ab", ...): small, but a real GGUF."""
    entries = {
        "tokenizer.ggml.model": (T.STRING, "gpt2"),
        "tokenizer.ggml.pre": (T.STRING, "gpt-2"),
        "tokenizer.ggml.tokens": (T.ARRAY, ["a", "b", "ab", "Ġ", "<s>"], T.STRING),
        "tokenizer.ggml.token_type": (T.ARRAY, [1, 1, 1, 1, 3], T.INT32),
        "tokenizer.ggml.merges": (T.ARRAY, ["a b"], T.STRING),
        "tokenizer.ggml.bos_token_id": (T.UINT32, 4),
    }
    for key, value in overrides.items():
        key = key.replace("__", ".")
        if value is None:
            entries.pop(key)
        else:
            entries[key] = value
    return gguf_bytes([(key, *value) for key, value in entries.items()])


def test_a_tiny_vocabulary_builds_without_llama_cpp(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(tiny_vocabulary(tokenizer__ggml__add_bos_token=(T.BOOL, True)))
    tokenizer = Tokenizer.from_gguf(path)
    assert tokenizer.encode("ab ab<s>", parse_special=True) == [4, 2, 3, 2, 4]
    assert tokenizer.encode("ab", add_special=False) == [2]
    assert tokenizer.decode([4, 2, 3, 0]) == "ab a"
    assert tokenizer.decode([4, 2], special=True) == "<s>ab"
    assert tokenizer.vocab_size == 5 and tokenizer.special_ids == {4}
    assert "tiny.gguf" in repr(tokenizer)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"tokenizer__ggml__model": (T.STRING, "llama")}, "tokenizer.ggml.model is 'llama'"),
        ({"tokenizer__ggml__model": (T.STRING, "bert")}, "only GPT-2 style BPE"),
        ({"tokenizer__ggml__pre": (T.STRING, "tekken")}, "tokenizer.ggml.pre is 'tekken'"),
        ({"tokenizer__ggml__pre": None}, "tokenizer.ggml.pre is missing"),
        ({"tokenizer__ggml__merges": None}, "no tokenizer.ggml.merges"),
        (
            {"tokenizer__ggml__tokens": (T.ARRAY, ["a", "b", "a", "Ġ", "<s>"], T.STRING)},
            "duplicate token in the vocabulary: 'a' has ids 0 and 2",
        ),
        (
            {"tokenizer__ggml__token_type": (T.ARRAY, [1, 1], T.INT32)},
            "token_type has 2 entries for 5 tokens",
        ),
        (
            {
                "tokenizer__ggml__add_bos_token": (T.BOOL, True),
                "tokenizer__ggml__bos_token_id": None,
            },
            "add_bos_token is true, but tokenizer.ggml.bos_token_id is not set",
        ),
    ],
)
def test_vocabularies_it_cannot_rebuild_are_named(override, message):
    metadata_bytes = tiny_vocabulary(**override)
    with pytest.raises(TokenizerError, match=message.replace(".", r"\.").replace("(", r"\(")):
        Tokenizer.from_gguf_metadata(parse_gguf_metadata(metadata_bytes))


def test_a_malformed_merge_names_its_index():
    data = tiny_vocabulary(tokenizer__ggml__merges=(T.ARRAY, ["a b", "ab"], T.STRING))
    with pytest.raises(GGUFError, match=r"tokenizer\.ggml\.merges\[1\] is 'ab'"):
        Tokenizer.from_gguf_metadata(parse_gguf_metadata(data))


def test_every_known_pre_tokenizer_compiles():
    from llmkit.tokens.pretokenize import build_pre_tokenizer

    for name, pre in PRE_TOKENIZERS.items():
        pieces = build_pre_tokenizer(pre).pre_tokenize_str("it's 2025, héllo\n  world")
        assert "".join(piece for piece, _ in pieces) == "it'sĠ2025,ĠhÃ©lloĊĠĠworld", name


def test_encode_wants_text():
    tokenizer = Tokenizer.from_gguf_metadata(parse_gguf_metadata(tiny_vocabulary()))
    with pytest.raises(InvalidRequestError, match="text: expected a str, got bytes"):
        tokenizer.encode(b"ab")  # type: ignore[arg-type]
