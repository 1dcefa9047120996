"""The Sphinx sources: alt text on every figure, one line when the data is missing."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
FIGURE_DIRECTIVES = ("plot", "image", "figure")


def directives(text):
    """``(name, {option: value})`` for each directive of ``text`` (reST)."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)\.\. ([\w-]+)::", line)
        if not match:
            continue
        indent, options, key = len(match.group(1)), {}, None
        for body in lines[i + 1 :]:
            if not body.strip() or len(body) - len(body.lstrip()) <= indent:
                break
            option = re.match(r"^\s*:([\w-]+):\s*(.*)$", body)
            if option:
                key = option.group(1)
                options[key] = option.group(2)
            elif key is not None:  # a continuation line of the last option
                options[key] += " " + body.strip()
        found.append((match.group(2), options))
    return found


def figures():
    """``(page, number, options)`` of every directive that draws a picture."""
    out = []
    for page in sorted(DOCS.glob("*.rst")):
        drawn = [
            options
            for name, options in directives(page.read_text(encoding="utf-8"))
            if name in FIGURE_DIRECTIVES and "nofigs" not in options
        ]
        out += [(page.name, n, options) for n, options in enumerate(drawn, 1)]
    return out


def test_the_parser_sees_options_and_their_continuation_lines():
    text = (
        ".. plot::\n   :context: reset\n   :alt: A line chart\n      of costs.\n"
        "   :nofigs:\n\n   code\n\n.. image:: cat.png\n"
    )
    assert directives(text) == [
        ("plot", {"context": "reset", "alt": "A line chart of costs.", "nofigs": ""}),
        ("image", {}),
    ]


def test_the_docs_have_figures():
    pages = {page for page, _, _ in figures()}
    assert {"getting_started.rst", "tutorial.rst", "user_guide.rst"} <= pages
    assert len(figures()) >= 9


@pytest.mark.parametrize(
    "page, number, options",
    figures(),
    ids=[f"{page}-figure-{number}" for page, number, _ in figures()],
)
def test_every_figure_has_alt_text(page, number, options):
    alt = options.get("alt", "")
    assert len(alt.split()) >= 10, f"figure {number} of {page} needs real alt text"
    assert alt != options.get("caption"), "the alt text describes, not captions"
    assert not re.search(r"\w- \w", alt), "a word split at its hyphen"


# -- CATNEURON_DATA missing: one line on stderr, exit status 2 ----------------


def load_conf():
    spec = importlib.util.spec_from_file_location(
        "catneuron_docs_conf", DOCS / "conf.py"
    )
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


@pytest.mark.parametrize(
    "value, problem",
    [
        (None, "CATNEURON_DATA is not set"),
        ("{tmp}", "CATNEURON_DATA='{tmp}' has no train_catvnoncat.h5 or test_cat"),
        (
            "{tmp}/train_only",
            "CATNEURON_DATA='{tmp}/train_only' has no test_catvnoncat.h5;",
        ),
    ],
)
def test_missing_data_exits_with_one_line(
    value, problem, tmp_path, monkeypatch, capsys, catvnoncat_dir
):
    conf = load_conf()
    (tmp_path / "train_only").mkdir()
    shutil.copyfile(
        catvnoncat_dir / "train_catvnoncat.h5",
        tmp_path / "train_only" / "train_catvnoncat.h5",
    )
    if value is None:
        monkeypatch.delenv("CATNEURON_DATA", raising=False)
    else:
        monkeypatch.setenv("CATNEURON_DATA", value.format(tmp=tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        conf._check_data(None, None)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("sphinx-build: error: " + problem.format(tmp=tmp_path))
    assert err.endswith(
        "set CATNEURON_DATA to the folder holding train_catvnoncat.h5 and "
        "test_catvnoncat.h5, then build again.\n"
    )


def test_data_folder_is_made_absolute(monkeypatch, catvnoncat_dir):
    conf = load_conf()
    monkeypatch.chdir(catvnoncat_dir.parent)
    monkeypatch.setenv("CATNEURON_DATA", catvnoncat_dir.name)
    conf._check_data(None, None)
    assert os.environ["CATNEURON_DATA"] == str(catvnoncat_dir)


@pytest.mark.slow
def test_sphinx_build_without_data_prints_one_line(tmp_path):
    for module in ("sphinx", "numpydoc", "sphinxarg", "pydata_sphinx_theme"):
        pytest.importorskip(module, reason="the [docs] extra is not installed")
    env = {key: v for key, v in os.environ.items() if key != "CATNEURON_DATA"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", DOCS, tmp_path],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "sphinx-build: error: CATNEURON_DATA is not set; the documentation draws"
    )
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


# -- the README's Python example runs as written, from any folder --------------


def readme_example():
    """The first ``python`` block after the README's "## Example" heading."""
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Example\n") :]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_readme_example_reads_the_data_home_not_relative_files():
    code = readme_example()
    assert "fetch_catvnoncat" in code
    assert "h5py" not in code and ".h5" not in code


@pytest.mark.slow
def test_readme_example_runs_from_another_folder(
    tmp_path, catvnoncat_dir, reference_costs
):
    (tmp_path / "example.py").write_text(readme_example(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CATNEURON_DATA_URL"}
    env["CATNEURON_DATA"] = str(catvnoncat_dir)
    result = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    scores, costs = result.stdout.split("\n", 1)
    assert scores == f"{207 / 209} 0.7"  # 0.9904306220095693, as the comment says
    printed = [float(value) for value in costs.strip().strip("[]").split()]
    assert printed == list(reference_costs)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["example.py"]


# -- CI installs and tests exactly as the README says ---------------------------


def test_ci_installs_and_tests_as_the_readme_says():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    ci = (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8")
    command = re.compile(
        r'pip install (?:--quiet )?-e "\.\[([\w,-]+)\]"[^\n]*?\n?[^\n]*?'
        r"\.venv/bin/python -m pytest([^\n&]*)\n"
    )  # an install, then a test run on the same or the next line
    ci_extra, ci_options = command.search(ci).groups()
    readme_commands = {m.groups() for m in command.finditer(readme)}
    assert (ci_extra, ci_options) == ("test-all", " -n auto")
    assert readme_commands == {("test", " -n auto"), ("test-all", " -n auto")}


def test_api_pages_list_our_methods_with_lazy_imports():
    # The package loads its public names on first use: conf.py must not read
    # them from the module's namespace, or the class pages list no methods.
    where = load_conf().autosummary_context["documented_at"]
    assert {"transform", "inverse_transform", "get_feature_names_out"} <= set(
        where["ImageFlattener"]
    )
    assert {"predict", "predict_proba", "decision_function"} <= set(
        where["SigmoidNeuronClassifier"]
    )
