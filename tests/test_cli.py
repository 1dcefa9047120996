"""The catneuron command line, end to end through ``python -m sklearn_catneuron``."""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier, __version__
from sklearn_catneuron.cli import _fit_with_progress, build_parser, main

skops_io = pytest.importorskip("skops.io")
Image = pytest.importorskip("PIL.Image")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def command(*args, data_home=None):
    """``python -m sklearn_catneuron ARGS`` and its environment: no mirror."""
    env = {k: v for k, v in os.environ.items() if k != "CATNEURON_DATA_URL"}
    if data_home is not None:
        env["CATNEURON_DATA"] = str(data_home)
    return [sys.executable, "-m", "sklearn_catneuron", *map(str, args)], env


def run(*args, cwd, data_home=None):
    """Run the command in ``cwd`` (stdout and stderr are pipes, not a TTY)."""
    argv, env = command(*args, data_home=data_home)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result, match):
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert re.search(match, result.stderr), result.stderr


def load_model(path):
    return skops_io.load(path, trusted=skops_io.get_untrusted_types(file=path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, catvnoncat_dir):
    """A full default ``catneuron train`` run: (folder, CompletedProcess)."""
    folder = tmp_path_factory.mktemp("train")
    result = run("train", cwd=folder, data_home=catvnoncat_dir)
    return folder, result


@pytest.fixture(scope="module")
def model_file(trained):
    return trained[0] / "catneuron-model.skops"


# -- train -------------------------------------------------------------------


def test_train_reproduces_the_reference(
    trained, catvnoncat, reference_pipeline, reference_costs
):
    folder, result = trained
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar without a terminal
    report = result.stdout.splitlines()
    assert report[0].startswith(
        "Trained ImageFlattener + SigmoidNeuronClassifier on 209 images of 64x64x3"
    )
    assert report[1:5] == [
        "train accuracy: 0.9904 (207 of 209 images)",
        "test accuracy:  0.7000 (35 of 50 images)",
        "final cost:     0.135659",
        "steps:          2000 (learning rate 0.005)",
    ]
    assert re.fullmatch(r"time: +\d+\.\d s", report[5])
    assert report[6:] == [
        "model:          catneuron-model.skops",
        "cost curve:     cost.png",
    ]
    assert (folder / "cost.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in folder.iterdir()) == [
        "catneuron-model.skops",
        "cost.png",
    ]

    # The saved pipeline is exactly one 2000-step fit of the reference.
    model = load_model(folder / "catneuron-model.skops")
    _, _, X_test, y_test = catvnoncat
    reference = reference_pipeline
    assert model.get_params(deep=True).keys() == reference.get_params().keys()
    assert model[-1].get_params() == reference[-1].get_params()
    assert model[-1].n_iter_ == 2000
    assert_array_equal(model[-1].coef_, reference[-1].coef_)
    assert_array_equal(model[-1].intercept_, reference[-1].intercept_)
    assert_array_equal(model[-1].loss_curve_, reference[-1].loss_curve_)
    assert_array_equal(np.round(model[-1].loss_curve_[::100], 6), reference_costs)
    assert np.sum(model.predict(X_test) == y_test) == 35


def test_chunked_training_has_the_iterates_of_one_fit(catvnoncat):
    X_train, y_train, _, _ = catvnoncat
    chunked = _fit_with_progress(
        X_train,
        y_train,
        learning_rate=0.01,
        max_iter=250,  # two full chunks and a half one
        show_progress=False,
        desc="test",
    )
    one_fit = make_pipeline(
        ImageFlattener(), SigmoidNeuronClassifier(learning_rate=0.01, max_iter=250)
    ).fit(X_train, y_train)
    assert chunked[-1].get_params() == one_fit[-1].get_params()
    assert chunked[-1].n_iter_ == 250
    assert_array_equal(chunked[-1].loss_curve_, one_fit[-1].loss_curve_)
    assert_array_equal(chunked[-1].coef_, one_fit[-1].coef_)
    assert_array_equal(chunked[-1].intercept_, one_fit[-1].intercept_)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_on_a_terminal_unless_quiet(
    tmp_path, catvnoncat_dir, monkeypatch, capsys, quiet
):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    args = ["train", "--data-home", catvnoncat_dir, "--max-iter", "150"]
    args += ["--model", tmp_path / "m.skops", "--plot", tmp_path / "c.png"]
    assert main([str(arg) for arg in args] + ["--quiet"] * quiet) == 0
    assert "steps:          150 (learning rate 0.005)" in capsys.readouterr().out
    if quiet:
        assert terminal.getvalue() == ""
    else:
        assert "training" in terminal.getvalue()
        assert "150/150" in terminal.getvalue()


def test_train_options_and_force(tmp_path, catvnoncat_dir, capsys):
    out = tmp_path / "out"
    out.mkdir()
    args = ["train", "--data-home", catvnoncat_dir, "--learning-rate", "0.01"]
    args += ["--max-iter", "120", "--model", out / "m.skops", "--plot", out / "c.png"]
    args = [str(arg) for arg in args]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert "steps:          120 (learning rate 0.01)" in stdout
    assert f"model:          {out / 'm.skops'}" in stdout
    assert f"cost curve:     {out / 'c.png'}" in stdout
    model = load_model(out / "m.skops")
    assert model[-1].learning_rate == 0.01
    assert model[-1].loss_curve_.shape == (120,)
    model_before = (out / "m.skops").read_bytes()
    plot_before = (out / "c.png").read_bytes()

    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"catneuron train: error: {out / 'm.skops'} already exists; pass --force "
        "to replace it, or choose another file name\n"
    )
    assert (out / "m.skops").read_bytes() == model_before
    assert (out / "c.png").read_bytes() == plot_before

    args[args.index("120")] = "60"
    assert main([*args, "--force"]) == 0
    assert load_model(out / "m.skops")[-1].loss_curve_.shape == (60,)
    assert (out / "c.png").read_bytes() != plot_before
    assert sorted(p.name for p in out.iterdir()) == ["c.png", "m.skops"]


# -- predict -----------------------------------------------------------------


def test_predict_images_of_any_size_and_a_folder(tmp_path, model_file, catvnoncat):
    _, _, X_test, y_test = catvnoncat
    model = load_model(model_file)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    exact = pictures / "exact.png"
    Image.fromarray(X_test[0]).save(exact)  # lossless, 64x64: the test image itself
    Image.fromarray(X_test[1]).resize((300, 200)).save(pictures / "large.jpg")
    Image.fromarray(X_test[2]).resize((23, 41)).convert("RGBA").save(
        pictures / "small_rgba.PNG"
    )
    Image.fromarray(X_test[3]).convert("L").save(pictures / "gray.jpeg")
    (pictures / "notes.txt").write_text("not a picture")
    single = tmp_path / "single.png"
    Image.fromarray(X_test[5]).resize((128, 128)).save(single)

    result = run("predict", "--model", model_file, pictures, single, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    files = [pictures / name for name in ("exact.png", "gray.jpeg", "large.jpg")]
    files += [pictures / "small_rgba.PNG", single]
    assert [line[0] for line in lines] == [str(path) for path in files]

    # The exact picture gets exactly the model's answer on the test image.
    proba = model.predict_proba(X_test[:1])[0]
    label = ["non-cat", "cat"][proba.argmax()]
    assert lines[0][1:] == [label, f"{proba.max():.4f}"]
    # Every picture: RGB, resized (bilinear) to 64x64, then the model.
    for path, line in zip(files, lines, strict=True):
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
        proba = model.predict_proba(np.asarray(rgb)[None])[0]
        assert line[1:] == [["non-cat", "cat"][proba.argmax()], f"{proba.max():.4f}"]
        assert 0.5 <= float(line[2]) <= 1.0


# -- sweep -------------------------------------------------------------------


def test_sweep_table_and_plot(tmp_path, catvnoncat_dir, catvnoncat):
    X_train, y_train, X_test, y_test = catvnoncat
    result = run(
        "sweep",
        "--data-home",
        catvnoncat_dir,
        "--learning-rates",
        "0.01",
        "0.001",
        "--max-iter",
        "80",
        "--plot",
        "rates.png",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "80 gradient-descent steps per learning rate"
    assert lines[1].split() == ["learning", "rate", "final", "cost", "train"] + [
        "acc",
        "test",
        "acc",
    ]
    for rate, line in zip((0.01, 0.001), lines[2:4], strict=True):
        model = make_pipeline(
            ImageFlattener(), SigmoidNeuronClassifier(learning_rate=rate, max_iter=80)
        ).fit(X_train, y_train)
        assert line.split() == [
            f"{rate:g}",
            f"{model[-1].loss_curve_[-1]:.6f}",
            f"{model.score(X_train, y_train):.4f}",
            f"{model.score(X_test, y_test):.4f}",
        ]
    assert lines[4:] == ["cost curves: rates.png"]
    assert (tmp_path / "rates.png").read_bytes()[:8] == PNG_SIGNATURE


# -- the parser and error exits ----------------------------------------------


def test_version(tmp_path):
    version = run("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"catneuron {__version__}\n")


@pytest.mark.parametrize("command_name", ["train", "predict", "sweep"])
def test_help_on_every_subcommand(capsys, command_name):
    assert main([command_name, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: catneuron {command_name} ")


def test_parser_defaults():
    parser = build_parser()
    train = parser.parse_args(["train"])
    assert (train.learning_rate, train.max_iter) == (0.005, 2000)
    assert (str(train.model), str(train.plot)) == ("catneuron-model.skops", "cost.png")
    assert (train.data_home, train.force, train.quiet) == (None, False, False)
    sweep = parser.parse_args(["sweep"])
    assert sweep.learning_rates == [0.01, 0.001, 0.0001]
    assert (sweep.max_iter, str(sweep.plot)) == (1500, "sweep.png")
    predict = parser.parse_args(["predict", "a.png", "folder"])
    assert str(predict.model) == "catneuron-model.skops"
    assert [str(path) for path in predict.images] == ["a.png", "folder"]


USAGE_ERRORS = {
    "no-command": ([], "catneuron: error: the following arguments are required"),
    "unknown-option": (["train", "--epochs", "3"], "unrecognized arguments"),
    "text-rate": (["sweep", "--learning-rates", "0.1", "fast"], "got 'fast'"),
    "infinite-rate": (["train", "--learning-rate", "inf"], "got 'inf'"),
    "zero-steps": (["train", "--max-iter", "0"], "must be a positive integer"),
    "float-steps": (["sweep", "--max-iter", "1.5"], "got '1.5'"),
    "no-pictures": (["predict"], "required: IMAGE_OR_FOLDER"),
}


@pytest.mark.parametrize("args, match", USAGE_ERRORS.values(), ids=USAGE_ERRORS)
def test_usage_errors(capsys, args, match):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1, captured.err
    assert re.search(match, captured.err), captured.err
    assert captured.err.rstrip().endswith("--help')")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, model_file):
    """Files for the error exits: damaged data, foreign models, bad pictures."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty_data").mkdir()
    (folder / "damaged_data").mkdir()
    (folder / "damaged_data" / "train_catvnoncat.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    (folder / "no_pictures").mkdir()
    (folder / "text.skops").write_text("not a model")
    skops_io.dump(
        make_pipeline(ImageFlattener(), FunctionTransformer(os.getcwd)),
        folder / "runs_code.skops",
    )
    skops_io.dump(
        LogisticRegression().fit([[0.0], [1.0]], [0, 1]), folder / "other.skops"
    )
    (folder / "broken.png").write_bytes(PNG_SIGNATURE + b"\0" * 100)
    Image.new("RGB", (8, 8)).save(folder / "picture.gif")
    (folder / "model.skops").write_bytes(model_file.read_bytes())
    (folder / "existing.png").write_bytes(b"keep me")
    return folder


# One of each kind of error (a bad option value, missing or damaged data, an
# existing output, a foreign or dangerous model file, a bad picture) runs as
# its own process, as a user would meet it; all at once, to save time.
ERRORS = {
    "negative-rate": (
        ["train", "--learning-rate", "-1"],
        r"^catneuron train: error: argument --learning-rate: must be a positive "
        r"number, got '-1' \(see 'catneuron train --help'\)$",
    ),
    "missing-data": (
        ["train", "--data-home", "empty_data", "--model", "m.skops"],
        r"^catneuron train: error: train_catvnoncat.h5 is not in .*empty_data.* "
        r"no official host. Set CATNEURON_DATA_URL",
    ),
    "damaged-data": (
        ["sweep", "--data-home", "damaged_data", "--plot", "s.png"],
        r"damaged_data/train_catvnoncat.h5 is truncated \(8 of 2572022 bytes\)",
    ),
    "existing-plot": (
        ["train", "--plot", "existing.png", "--model", "m.skops"],
        "existing.png already exists; pass --force",
    ),
    "not-a-model": (
        ["predict", "--model", "text.skops", "broken.png"],
        "text.skops is not a model file written by 'catneuron train'.*BadZipFile",
    ),
    "untrusted-model": (
        ["predict", "--model", "runs_code.skops", "broken.png"],
        r"refusing to load runs_code.skops: .* \([a-z]+\.getcwd\), which could run",
    ),
    "bad-picture": (
        ["predict", "--model", "model.skops", "broken.png"],
        "cannot read the picture broken.png .*; give PNG or JPEG files",
    ),
}

# The other error exits of the same kinds, through main() in this process.
MORE_ERRORS = {
    "missing-folder": (
        ["train", "--model", "nowhere/m.skops"],
        "the folder nowhere does not exist; create it first",
    ),
    "missing-model": (
        ["predict", "--model", "absent.skops", "broken.png"],
        "model file absent.skops not found; write one with 'catneuron train",
    ),
    "other-estimator": (
        ["predict", "--model", "other.skops", "broken.png"],
        "it holds a LogisticRegression, not a Pipeline",
    ),
    "gif-picture": (
        ["predict", "--model", "model.skops", "picture.gif"],
        "cannot read the picture picture.gif",
    ),
    "missing-picture": (
        ["predict", "--model", "model.skops", "absent.jpg"],
        "absent.jpg does not exist; give picture files or folders",
    ),
    "empty-folder": (
        ["predict", "--model", "model.skops", "no_pictures"],
        "the folder no_pictures holds no .png, .jpg or .jpeg pictures",
    ),
}


@pytest.fixture(scope="module")
def error_runs(bad_files, catvnoncat_dir):
    """Run every error case at once (they only read); their results by name."""
    before = sorted(p.name for p in bad_files.iterdir())
    processes = {}
    for name, (args, _) in ERRORS.items():
        argv, env = command(*args, data_home=catvnoncat_dir)
        processes[name] = subprocess.Popen(
            argv,
            cwd=bad_files,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    # Nothing written, nothing replaced.
    assert sorted(p.name for p in bad_files.iterdir()) == before
    assert (bad_files / "existing.png").read_bytes() == b"keep me"
    return results


@pytest.mark.parametrize("name", ERRORS)
def test_error_exits(error_runs, name):
    assert_one_line_error(error_runs[name], ERRORS[name][1])


@pytest.mark.parametrize("args, match", MORE_ERRORS.values(), ids=MORE_ERRORS)
def test_more_error_exits(bad_files, catvnoncat_dir, monkeypatch, capsys, args, match):
    monkeypatch.chdir(bad_files)
    monkeypatch.setenv("CATNEURON_DATA", str(catvnoncat_dir))
    before = sorted(p.name for p in bad_files.iterdir())
    status = main(args)
    captured = capsys.readouterr()
    assert_one_line_error(
        subprocess.CompletedProcess(args, status, captured.out, captured.err), match
    )
    assert sorted(p.name for p in bad_files.iterdir()) == before
