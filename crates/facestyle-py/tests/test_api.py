"""The package's surface: every public name documented, errors importable as expected."""

import inspect

import facestyle


def test_every_public_name_has_a_docstring():
    for name in facestyle.__all__:
        obj = getattr(facestyle, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), name
            if inspect.isclass(obj):
                for meth, fn in vars(obj).items():
                    if inspect.isfunction(fn) and not meth.startswith("_"):
                        assert inspect.getdoc(fn), f"{name}.{meth}"


def test_help_of_verify_reads_well():
    doc = inspect.getdoc(facestyle.verify)
    assert "same" in doc and "distance" in doc and "threshold" in doc
    sig = inspect.signature(facestyle.verify)
    assert list(sig.parameters) == ["a", "b", "metric", "threshold"]


def test_error_types():
    assert issubclass(facestyle.NoFaceError, ValueError)
    assert issubclass(facestyle.ModelError, Exception)
    assert facestyle.ModelError.__module__ == "facestyle"
    assert facestyle.__version__
