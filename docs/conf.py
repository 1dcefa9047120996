"""Sphinx configuration for the sklearn-catneuron documentation.

Build from the repository root with the ``docs`` extra installed::

    CATNEURON_DATA=/path/to/catvnoncat python -m sphinx -W -b html docs docs/_build/html

The tutorial's figures are drawn at build time from the real cat / non-cat data,
read from the folder named by ``CATNEURON_DATA``.
"""

import os
import re
import sys
from pathlib import Path

import sklearn_catneuron

# -- The data the figures are drawn from -------------------------------------

_DATA_FILES = ("train_catvnoncat.h5", "test_catvnoncat.h5")


def _catneuron_data():
    """Absolute path of the folder named by CATNEURON_DATA, checked.

    Without the data, print one line on stderr and exit with status 2: a
    ``ConfigError`` would be wrapped in Sphinx's crash report, which asks the
    reader to report a bug to Sphinx.
    """
    folder = os.environ.get("CATNEURON_DATA")
    need = f"set CATNEURON_DATA to the folder holding {' and '.join(_DATA_FILES)}"
    if not folder:
        problem = "CATNEURON_DATA is not set"
    else:
        path = Path(folder).resolve()
        missing = [name for name in _DATA_FILES if not (path / name).is_file()]
        if not missing:
            return path
        problem = f"CATNEURON_DATA={folder!r} has no {' or '.join(missing)}"
    print(
        f"sphinx-build: error: {problem}; the documentation draws its figures from "
        f"the real cat / non-cat data at build time: {need}, then build again.",
        file=sys.stderr,
    )
    sys.exit(2)


# -- Project information -------------------------------------------------------

project = "sklearn-catneuron"
author = "sklearn-catneuron developers"
copyright = "sklearn-catneuron developers"
release = sklearn_catneuron.__version__
version = release

# -- General configuration ------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinxarg.ext",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "literal"
# Curly quotes, but no dashes: "--data-home" in the generated command line
# reference must stay two hyphens.
smartquotes_action = "qe"

# Every cross-reference must resolve; only names from other packages (whose
# inventories are not fetched: the build works offline) are let through.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(sklearn|numpy|np|scipy|matplotlib|h5py|pandas|joblib|argparse)(\..*)?",
    ),
]

# -- autodoc, autosummary, numpydoc ----------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Fail the build on docstring faults in our own public API, and on any public
# class, method or function without a Returns (RT01), See Also (SA01) or
# Examples (EX01) section.
numpydoc_validation_checks = {
    "GL01",
    "GL02",
    "GL03",
    "GL05",
    "PR01",
    "PR02",
    "PR10",
    "RT01",
    "SA01",
    "EX01",
}
numpydoc_validation_exclude = {
    # Methods scikit-learn's mixins give us: their docstrings are sklearn's.
    r"\.(get|set)_params$",
    r"\.get_metadata_routing$",
    r"\.set_\w+_request$",
    r"\.set_output$",
    r"\.fit_transform$",
    r"\.score$",
    r"\.__init__$",
}


def _where_our_methods_are_documented():
    """For each public class, where each of its public methods of ours is shown.

    ``{class name: {method: page}}``: the page is ``""`` when the class's own
    page documents the method (it defines it, or inherits it from a private
    class of this package, such as the prediction mixin), else the dotted name
    of the public class that does. Methods from scikit-learn's base classes are
    left out: the class pages only name them, as scikit-learn documents them.
    """
    # getattr, not vars(): the package loads its public names on first use.
    objects = [getattr(sklearn_catneuron, name) for name in sklearn_catneuron.__all__]
    public = {obj for obj in objects if isinstance(obj, type)}
    where = {}
    for cls in public:
        pages = {}
        for attr in dir(cls):
            if attr.startswith("_"):
                continue
            owner = next(base for base in cls.__mro__ if attr in vars(base))
            if not owner.__module__.startswith("sklearn_catneuron"):
                continue
            if owner not in public:  # a private base: its most basic public heir
                owner = next(
                    base
                    for base in reversed(cls.__mro__)
                    if base in public and issubclass(base, owner)
                )
            pages[attr] = "" if owner is cls else f"sklearn_catneuron.{owner.__name__}"
        where[cls.__name__] = pages
    return where


autosummary_context = {"documented_at": _where_our_methods_are_documented()}

# -- matplotlib's plot directive: figures drawn at build time -------------------

plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_pre_code = ""
plot_rcparams = {"figure.figsize": (6.4, 4.0), "savefig.bbox": "tight"}

# -- HTML output -----------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-catneuron {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "getting_started": [], "changelog": []}
html_show_sourcelink = False


# -- Members generated by scikit-learn's metadata routing -------------------------

_METADATA_REQUEST = re.compile(r"^set_\w+_request$")


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    """Leave out ``set_{method}_request``: sklearn generates them per class."""
    if _METADATA_REQUEST.match(name):
        return True
    return None


def _check_data(app, config):
    # Here, not at import: Sphinx runs conf.py from the docs folder, and a
    # relative CATNEURON_DATA means relative to where the build was started.
    # Stored absolute, because the plot directive runs page code from docs/.
    os.environ["CATNEURON_DATA"] = str(_catneuron_data())


def setup(app):
    app.connect("config-inited", _check_data)
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
