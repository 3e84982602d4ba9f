import pytest

from llmkit import errors


def test_every_error_is_an_llmkit_error():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.LLMKitError)


def test_tree_shape():
    assert issubclass(errors.UnsupportedOptionError, errors.InvalidRequestError)
    assert issubclass(errors.InvalidRequestError, ValueError)
    assert issubclass(errors.BackendNotInstalledError, errors.BackendNotFoundError)
    assert issubclass(errors.ModelNotFoundError, FileNotFoundError)
    assert issubclass(errors.StreamInterruptedError, errors.StreamError)


def test_docstring_lists_every_error():
    for name in errors.__all__:
        assert name in (errors.__doc__ or ""), name


def test_unsupported_option_names_option_and_backend():
    error = errors.UnsupportedOptionError("tfs_z", "llamacpp", "removed")
    assert error.fields == ["options.tfs_z"]
    assert "'tfs_z'" in str(error) and "llamacpp" in str(error)


def test_not_installed_says_what_to_install():
    error = errors.BackendNotInstalledError("llamacpp", "llmkit-llamacpp")
    assert "pip install llmkit-llamacpp" in str(error)


@pytest.mark.parametrize("cls", [errors.StreamInterruptedError])
def test_partial_is_kept(cls):
    assert cls("cut", partial=None).partial is None


def test_the_errors_page_shows_the_tree_and_every_class():
    import re
    from pathlib import Path

    import llmkit.errors as errors

    page = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    doc = errors.__doc__ or ""
    tree = doc[doc.index("::\n\n") + 4 : doc.index("\n\nLower-level")]
    tree = "\n".join(line[4:] for line in tree.splitlines())
    assert f"```\n{tree}\n```" in page, "docs/errors.md's tree differs from errors.py's docstring"
    for name in errors.__all__:
        assert re.search(rf"^\| `{name}` \|", page, re.M), f"{name} is missing from the table"
        assert name in tree, f"{name} is missing from the tree"
