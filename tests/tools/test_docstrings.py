"""The docstring reader: Google, NumPy and reST styles, and plain text."""

from __future__ import annotations

import doctest
import re
import string

from hypothesis import given
from hypothesis import strategies as st

from llmkit.tools import docstrings
from llmkit.tools.docstrings import parse_docstring

GOOGLE = """Get the current weather for a city.

    Uses the forecast service; results are cached
    for ten minutes.

    Args:
        city (str): The city to look up,
            e.g. "Paris".
        unit: One of:
            - "celsius"
            - "fahrenheit"
        days (int, optional): How many days: 1 to 7.
        *tags: Extra tags.
        **extra: Anything else.

    Returns:
        dict: The forecast,
            one entry per day.

    Raises:
        ValueError: If the city is unknown.
    """

NUMPY = """Get the current weather for a city.

    Uses the forecast service.

    Parameters
    ----------
    city : str
        The city to look up,
        e.g. "Paris".
    unit : {'celsius', 'fahrenheit'}, optional
        The unit.
    lat, lon : float
        Coordinates.
    verbose
        Say more.

    Other Parameters
    ----------------
    timeout : float
        Seconds to wait.

    Returns
    -------
    dict
        The forecast.

    Examples
    --------
    >>> get_weather("Paris")
    """

REST = """Get the current weather for a city.

    Uses the forecast service.

    :param city: The city to look up,
        e.g. "Paris".
    :type city: str
    :param str unit: The unit.
    :param days:How many days.
    :keyword timeout: Seconds to wait.
    :returns: The forecast.
    :rtype: dict
    :raises ValueError: If the city is unknown.
    """


def test_google_style():
    doc = parse_docstring(GOOGLE)
    assert doc.style == "google"
    assert doc.summary == "Get the current weather for a city."
    assert doc.description == (
        "Get the current weather for a city.\n\n"
        "Uses the forecast service; results are cached\nfor ten minutes."
    )
    assert doc.params == {
        "city": 'The city to look up, e.g. "Paris".',
        "unit": 'One of:\n- "celsius"\n- "fahrenheit"',
        "days": "How many days: 1 to 7.",
        "tags": "Extra tags.",
        "extra": "Anything else.",
    }
    assert doc.returns == "dict: The forecast, one entry per day."


def test_numpy_style():
    doc = parse_docstring(NUMPY)
    assert doc.style == "numpy"
    assert doc.summary == "Get the current weather for a city."
    assert doc.description == "Get the current weather for a city.\n\nUses the forecast service."
    assert doc.params == {
        "city": 'The city to look up, e.g. "Paris".',
        "unit": "The unit.",
        "lat": "Coordinates.",
        "lon": "Coordinates.",
        "verbose": "Say more.",
        "timeout": "Seconds to wait.",
    }
    assert doc.returns == "dict\n    The forecast."


def test_rest_style():
    doc = parse_docstring(REST)
    assert doc.style == "rest"
    assert doc.description == "Get the current weather for a city.\n\nUses the forecast service."
    assert doc.params == {
        "city": 'The city to look up, e.g. "Paris".',
        "unit": "The unit.",
        "days": "How many days.",
        "timeout": "Seconds to wait.",
    }
    assert doc.returns == "The forecast."


def test_plain_text_is_all_description():
    doc = parse_docstring("""Add two numbers.

        The sum is exact for integers.
        Args are not a section here.
        """)
    assert doc.style == "plain"
    assert doc.summary == "Add two numbers."
    assert doc.description.endswith("Args are not a section here.")
    assert doc.params == {} and doc.returns is None


def test_a_summary_wrapped_over_lines_is_joined():
    doc = parse_docstring("Add two\n    numbers together.\n\n    More.")
    assert doc.summary == "Add two numbers together."


def test_empty_docstrings():
    for text in (None, "", "   \n  "):
        doc = parse_docstring(text)
        assert (doc.summary, doc.description, doc.params, doc.returns) == ("", "", {}, None)


def test_a_google_section_ends_at_text_back_at_the_margin():
    doc = parse_docstring("""Do it.

    Args:
        x: The x.

    Raises:
        KeyError: never.
    """)
    assert doc.params == {"x": "The x."}


def test_google_attributes_section_and_blank_lines_inside_an_entry():
    doc = parse_docstring("""A point.

    Attributes:
        x: The x coordinate.

            In metres.
        y: The y coordinate.
    """)
    assert doc.params == {"x": "The x coordinate.\n\nIn metres.", "y": "The y coordinate."}


def test_the_doctest_examples_hold():
    assert doctest.testmod(docstrings).failed == 0


WORD = st.text(string.ascii_letters + string.digits + ".,;'\"()-", min_size=1, max_size=8)
NAME = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
# A wrapped line that starts like a list item ("- ", "2. ") keeps its line break, by design.
LINE = st.lists(WORD, min_size=1, max_size=5).filter(
    lambda words: not re.fullmatch(r"[-*+]|\d+[.)]", words[0])
)
PARAMS = st.dictionaries(NAME, st.lists(LINE, min_size=1, max_size=3), min_size=1, max_size=5)


def _render(style: str, params: dict[str, list[list[str]]]) -> str:
    """A docstring in ``style`` whose parameters' descriptions wrap over the given lines."""
    lines = ["Summary line.", "", "Body text.", ""]
    if style == "google":
        lines.append("Args:")
        for name, wrapped in params.items():
            first, *rest = (" ".join(words) for words in wrapped)
            lines.append(f"    {name} (int): {first}")
            lines += [f"        {line}" for line in rest]
    elif style == "numpy":
        lines += ["Parameters", "----------"]
        for name, wrapped in params.items():
            lines.append(f"{name} : int")
            lines += [f"    {' '.join(words)}" for words in wrapped]
    else:
        for name, wrapped in params.items():
            first, *rest = (" ".join(words) for words in wrapped)
            lines.append(f":param {name}: {first}")
            lines += [f"    {line}" for line in rest]
    lines += ["", "Returns:" if style == "google" else ":returns: x" if style == "rest" else ""]
    return "\n".join(lines)


@given(params=PARAMS, style=st.sampled_from(["google", "numpy", "rest"]))
def test_every_style_reads_back_what_was_written(params, style):
    doc = parse_docstring(_render(style, params))
    assert doc.style == style
    assert doc.summary == "Summary line."
    assert doc.description == "Summary line.\n\nBody text."
    expected = {name: " ".join(" ".join(w) for w in wrapped) for name, wrapped in params.items()}
    assert doc.params == expected
