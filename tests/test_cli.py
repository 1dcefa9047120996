"""The catneuron command line, end to end through ``python -m sklearn_catneuron``.

Each bad option, data folder, model file and picture is a row of the
subcommand tables in ``test_bad_input.py``; here are the happy paths, model
files that would run code, and failed or killed writes that must lose nothing.
"""

import csv
import errno
import fcntl
import io
import json
import os
import pickle
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from _files import PNG_SIGNATURE, code_running_pickle, png_header
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import Pipeline

import sklearn_catneuron
from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    __version__,
    cli,
    load_model,
)
from sklearn_catneuron.cli import build_parser, main

Image = pytest.importorskip("PIL.Image")


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


def run_many(*commands, cwd):
    """Run several ``(args, ...)`` commands at once: their CompletedProcesses.

    Each process spends most of its time importing; in parallel the test waits
    for the slowest only.
    """
    processes = []
    for args in commands:
        argv, env = command(*args)
        processes.append(
            subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, out, err)
        )
    return results


def assert_one_line_error(result, match):
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert re.search(match, result.stderr), result.stderr


@pytest.fixture(scope="session")
def trained(tmp_path_factory, catvnoncat_dir):
    """A full default ``catneuron train`` run: (folder, CompletedProcess).

    One per session: every ``predict`` test uses its model file (read only).
    """
    folder = tmp_path_factory.mktemp("train")
    result = run("train", cwd=folder, data_home=catvnoncat_dir)
    return folder, result


@pytest.fixture(scope="session")
def model_file(trained):
    return trained[0] / "catneuron-model.cnm"


@pytest.fixture(scope="session")
def model(model_file):
    """The trained pipeline, loaded (shared: do not modify it)."""
    return load_model(model_file)


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
    assert report[1:6] == [
        "train accuracy: 0.9904 (207 of 209 images)",
        "test accuracy:  0.7000 (35 of 50 images)",
        "final cost:     0.135659",
        # The test images' cost is lowest after 150 steps, then rises.
        "test cost:      0.750342 (lowest: 0.501215 after 150 steps)",
        "steps:          2000 (learning rate 0.005)",
    ]
    assert re.fullmatch(r"time: +\d+\.\d s", report[6])
    assert report[7:] == [
        "model:          catneuron-model.cnm",
        "cost curve:     cost.png",
    ]
    assert (folder / "cost.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in folder.iterdir()) == [
        "catneuron-model.cnm",
        "cost.png",
    ]

    # The saved pipeline is one plain 2000-step fit with the test images as
    # validation set, bit for bit; the validation set changes nothing else.
    model = load_model(folder / "catneuron-model.cnm")
    X_train, y_train, X_test, y_test = catvnoncat
    plain = plain_fit(X_train, y_train, X_test, y_test)
    assert_same_fit(model, plain)
    for name in ("coef_", "intercept_", "loss_curve_", "n_iter_", "classes_"):
        assert_array_equal(
            getattr(model[-1], name), getattr(reference_pipeline[-1], name)
        )
    assert model[-1].n_iter_ == 2000
    assert_array_equal(np.round(model[-1].loss_curve_[::100], 6), reference_costs)
    assert np.sum(model.predict(X_test) == y_test) == 35
    # The test cost before step k is the test cost of a k-step fit.
    test_curve = plain[-1].validation_loss_curve_
    assert test_curve.shape == (2000,)
    assert int(np.argmin(test_curve)) == 150
    for k in (0, 150, 1999):
        k_steps = plain_fit(X_train, y_train, max_iter=max(k, 1))
        expected = np.log(2) if k == 0 else test_cost(k_steps, X_test, y_test)
        assert_allclose(test_curve[k], expected, rtol=1e-10)


def plain_fit(X_train, y_train, X_test=None, y_test=None, **params):
    """``Pipeline([ImageFlattener(), SigmoidNeuronClassifier(**params)]).fit``.

    With the test images as the neuron's validation set, if given.
    """
    model = Pipeline(
        [
            ("imageflattener", ImageFlattener()),
            ("sigmoidneuronclassifier", SigmoidNeuronClassifier(**params)),
        ]
    )
    if X_test is None:
        return model.fit(X_train, y_train)
    X_val = ImageFlattener().fit_transform(X_test)
    return model.fit(
        X_train,
        y_train,
        sigmoidneuronclassifier__X_val=X_val,
        sigmoidneuronclassifier__y_val=y_test,
    )


def train_figure(model):
    """The figure ``catneuron train`` draws for ``model`` (learning rate 0.005)."""
    neuron = model[-1]
    return cli._train_figure(
        neuron.loss_curve_,
        neuron.validation_loss_curve_,
        best_iteration=neuron.best_iteration_,
        learning_rate=0.005,
        n_test=50,
    )


def test_cost_plot_shows_the_training_and_test_costs(catvnoncat):
    model = plain_fit(*catvnoncat)
    figure = train_figure(model)
    ax = figure.axes[0]
    training, test, best = ax.get_lines()
    assert_array_equal(training.get_ydata(), model[-1].loss_curve_)
    assert_array_equal(test.get_ydata(), model[-1].validation_loss_curve_)
    assert_array_equal(test.get_xdata(), np.arange(2000))
    assert list(best.get_xdata()) == [150]
    assert list(best.get_ydata()) == [model[-1].validation_loss_curve_[150]]
    assert test.get_color() == best.get_color() != training.get_color()
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "training",
        "validation",
        "lowest validation cost (step 150)",
    ]
    assert ax.get_title() == "learning rate 0.005; validation: the 50 test images"


def test_cost_plot_when_the_test_cost_is_lowest_after_the_last_step(catvnoncat):
    model = plain_fit(*catvnoncat, max_iter=150)
    assert model[-1].best_iteration_ == 150  # not one of the curve's steps
    ax = train_figure(model).axes[0]
    assert len(ax.get_lines()) == 2  # the curves, no marker
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "training",
        "validation",
    ]


def png_bytes(figure):
    buffer = io.BytesIO()
    cli._save_figure(figure, buffer, "png")
    return buffer.getvalue()


def test_plot_drawn_by_the_plot_process_is_the_one_drawn_here(trained, catvnoncat):
    # 'catneuron train' has its second process draw the plot: the same file,
    # byte for byte, as drawing the same fit in this process.
    folder, result = trained
    assert result.returncode == 0, result.stderr
    expected = png_bytes(train_figure(plain_fit(*catvnoncat)))
    assert (folder / "cost.png").read_bytes() == expected


def neuron_curves(catvnoncat, max_iter=30):
    neuron = plain_fit(*catvnoncat, max_iter=max_iter)[-1]
    return [neuron.loss_curve_, neuron.validation_loss_curve_], {
        "best_iteration": int(neuron.best_iteration_),
        "learning_rate": 0.005,
        "n_test": 50,
    }


# The plot process, then a check that it never imported scikit-learn (status 5).
WORKER_WITHOUT_SKLEARN = cli._WORKER_CODE.replace(
    "sys.exit(_plot_worker())",
    "status = _plot_worker(); sys.exit(status or 5 * ('sklearn' in sys.modules))",
)


@pytest.mark.parametrize("kind", ["train", "sweep"])
def test_plot_process_draws_without_scikit_learn(catvnoncat, monkeypatch, kind):
    monkeypatch.setattr(cli, "_WORKER_CODE", WORKER_WITHOUT_SKLEARN)
    monkeypatch.setattr(cli, "_usable_cpus", lambda: 2)  # whatever this machine
    arrays, params = neuron_curves(catvnoncat)
    if kind == "sweep":
        params = {"learning_rates": [0.005, 0.01]}
    with cli._PlotProcess("png") as plots:
        assert plots.process is not None
        remote = plots.figure(kind, arrays, **params)
        assert isinstance(remote, cli._RemoteFigure)
        drawn = png_bytes(remote)
        assert plots.process.returncode == 0
    assert drawn == png_bytes(cli._FIGURES[kind](*arrays, **params))
    assert drawn.startswith(PNG_SIGNATURE)


def test_plot_process_failure_is_one_line(catvnoncat, monkeypatch):
    monkeypatch.setattr(cli, "_usable_cpus", lambda: 2)
    arrays, params = neuron_curves(catvnoncat)
    params["best_iteration"] = 10**6  # not a step of the validation curve
    with cli._PlotProcess("png") as plots:
        remote = plots.figure("train", arrays, **params)
        with pytest.raises(
            cli.CommandError,
            match=r"^could not draw the plot \(ValueError: best_iteration must be a "
            r"step number from 0 to 30, got 1000000\.\)$",
        ):
            png_bytes(remote)


def test_plot_process_killed_is_reported_and_ended_with_the_block(
    catvnoncat, monkeypatch
):
    monkeypatch.setattr(cli, "_usable_cpus", lambda: 2)
    arrays, params = neuron_curves(catvnoncat)
    with cli._PlotProcess("png") as plots:
        plots.process.kill()
        plots.process.wait()
        remote = plots.figure("train", arrays, **params)  # its input is closed
        with pytest.raises(
            cli.CommandError,
            match=r"^could not draw the plot \(the drawing process was killed by "
            rf"signal {signal.SIGKILL}\)$",
        ):
            png_bytes(remote)
    # A worker that was never asked for a plot is ended on leaving the block.
    with cli._PlotProcess("png") as plots:
        process = plots.process
        assert process.poll() is None
    assert process.returncode == -signal.SIGKILL
    assert process.stdin.closed and process.stdout.closed


@pytest.mark.parametrize(
    "why", ["no interpreter", "frozen", "no temporary file", "one CPU"]
)
def test_plot_drawn_here_when_no_process_starts(catvnoncat, monkeypatch, why):
    arrays, params = neuron_curves(catvnoncat)
    if why == "one CPU":  # e.g. 'taskset -c 0 catneuron train'
        if hasattr(os, "sched_getaffinity"):
            monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        else:
            monkeypatch.setattr(os, "cpu_count", lambda: 1)
    elif why == "no interpreter":
        monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    elif why == "frozen":  # an application bundle: its executable runs no "-c"
        monkeypatch.setattr(sys, "frozen", True, raising=False)
    else:

        def no_space():
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(cli.tempfile, "TemporaryFile", no_space)
    with cli._PlotProcess("png") as plots:
        assert plots.process is None
        figure = plots.figure("train", arrays, **params)
    assert not isinstance(figure, cli._RemoteFigure)
    assert png_bytes(figure) == png_bytes(cli._train_figure(*arrays, **params))


def fitted_state(model):
    """Every step's instance attributes: parameters, fitted attributes, the rest."""
    return [(name, vars(step)) for name, step in model.steps]


# The validation curve and its best step are the report's and the plot's: a
# model file holds the weights, the training cost curve and the step count.
NOT_IN_MODEL_FILES = {"validation_loss_curve_", "best_iteration_"}
NOT_IN_MODEL_FILES.add("best_validation_loss_")


def assert_same_fit(model, expected):
    """A model loaded from a file is ``expected``, fitted the same way.

    Every attribute of every step is equal, bit for bit; those a model file
    does not hold are the validation curve's.
    """
    state, expected_state = fitted_state(model), fitted_state(expected)
    assert [name for name, _ in state] == [name for name, _ in expected_state]
    for (_, attributes), (_, expected_attributes) in zip(
        state, expected_state, strict=True
    ):
        # No callback kept, nothing added or rewritten.
        assert attributes.keys() == expected_attributes.keys() - NOT_IN_MODEL_FILES
        for key, value in attributes.items():
            expected_value = expected_attributes[key]
            if isinstance(expected_value, np.ndarray):
                assert value.dtype == expected_value.dtype, key
                assert_array_equal(value, expected_value, strict=True, err_msg=key)
            else:
                assert value == expected_value, key


@pytest.mark.parametrize("shown", [True, False])
def test_the_model_is_one_plain_fit_with_or_without_the_bar(
    tmp_path, catvnoncat, catvnoncat_dir, shown
):
    # In a real process, stderr a terminal (the bar shown) or a pipe (not).
    X_train, y_train, X_test, y_test = catvnoncat
    args = ["train", "--max-iter", "250", "--model", "m.cnm", "--plot", "c.png"]
    argv, env = command(*args, data_home=catvnoncat_dir)
    if shown:
        status, out, err = run_on_terminal(argv, env, tmp_path)
        assert "training: 100%" in err and "250/250" in err, err
    else:
        result = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        status, out, err = result.returncode, result.stdout, result.stderr
        assert err == ""
    assert status == 0, err
    assert "steps:          250 (learning rate 0.005)" in out
    assert "test cost:      0.819813 (lowest: 0.501215 after 150 steps)" in out
    plain = plain_fit(X_train, y_train, X_test, y_test, max_iter=250)
    assert_same_fit(load_model(tmp_path / "m.cnm"), plain)


def run_on_terminal(argv, env, cwd):
    """Run ``argv`` with stderr on a pseudo-terminal: (status, stdout, stderr)."""
    leader, follower = pty.openpty()
    # 24 rows of 100 columns (a new pseudo-terminal has none: tqdm draws nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=follower
        )
    finally:
        os.close(follower)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        out = process.stdout.read().decode()
        process.wait(timeout=120)
    finally:
        process.kill()
        process.stdout.close()
        os.close(leader)
    return process.returncode, out, b"".join(chunks).decode(errors="replace")


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
    args += ["--model", tmp_path / "m.cnm", "--plot", tmp_path / "c.png"]
    assert main([str(arg) for arg in args] + ["--quiet"] * quiet) == 0
    assert "steps:          150 (learning rate 0.005)" in capsys.readouterr().out
    if quiet:
        assert terminal.getvalue() == ""
    else:
        # One bar, moved by the callback step by step: no chunks.
        assert "training: 100%" in terminal.getvalue()
        assert "150/150" in terminal.getvalue()
        assert "100/150" not in terminal.getvalue()


def test_the_bar_is_a_scikit_learn_callback_counting_steps(catvnoncat):
    from tqdm import tqdm

    from sklearn_catneuron.cli import _StepBar

    X_train, y_train, _, _ = catvnoncat
    X = ImageFlattener().fit_transform(X_train)
    with tqdm(total=None, file=io.StringIO()) as bar:
        neuron = SigmoidNeuronClassifier(max_iter=37).set_callbacks(_StepBar(bar))
        neuron.fit(X, y_train)
        # The root task's max_subtasks set the total; one update per step.
        assert (bar.total, bar.n) == (37, 37)


def test_train_options_and_force(tmp_path, catvnoncat_dir, capsys):
    out = tmp_path / "out"
    out.mkdir()
    args = ["train", "--data-home", catvnoncat_dir, "--learning-rate", "0.01"]
    args += ["--max-iter", "120", "--model", out / "m.cnm", "--plot", out / "c.png"]
    args = [str(arg) for arg in args]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert "steps:          120 (learning rate 0.01)" in stdout
    assert f"model:          {out / 'm.cnm'}" in stdout
    assert f"cost curve:     {out / 'c.png'}" in stdout
    model = load_model(out / "m.cnm")
    assert model[-1].learning_rate == 0.01
    assert model[-1].loss_curve_.shape == (120,)
    model_before = (out / "m.cnm").read_bytes()
    plot_before = (out / "c.png").read_bytes()

    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"catneuron train: error: {out / 'm.cnm'} already exists; pass --force "
        "to replace it, or choose another file name\n"
    )
    assert (out / "m.cnm").read_bytes() == model_before
    assert (out / "c.png").read_bytes() == plot_before

    args[args.index("120")] = "60"
    assert main([*args, "--force"]) == 0
    assert load_model(out / "m.cnm")[-1].loss_curve_.shape == (60,)
    assert (out / "c.png").read_bytes() != plot_before
    assert sorted(p.name for p in out.iterdir()) == ["c.png", "m.cnm"]


@pytest.mark.parametrize("command_name", ["train", "sweep"])
def test_huge_costs_are_printed_in_powers_of_ten(
    tmp_path, catvnoncat_dir, capsys, command_name
):
    # A far too large step: the costs are finite but enormous.
    args = [command_name, "--data-home", str(catvnoncat_dir), "--max-iter", "5"]
    args += ["--plot", str(tmp_path / "c.png")]
    if command_name == "train":
        args += ["--learning-rate", "1e300", "--model", str(tmp_path / "m.cnm")]
    else:
        args += ["--learning-rates", "0.01", "1e300"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) < 200, out
    assert re.search(r"\b\d\.\d{6}e\+\d{3}\b", out), out


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


def test_cost(model, X, y):
    """The cost (mean log-loss) of a fitted pipeline on ``X``, ``y``."""
    proba = model.predict_proba(X)
    return -np.mean(np.log(proba[np.arange(len(y)), y]))


test_cost.__test__ = False  # a helper, not a test


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
    assert result.stderr == ""  # no progress bar without a terminal
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"80 gradient-descent steps per learning rate, all rates in one descent "
        r"\(\d+\.\d s\)",
        lines[0],
    )
    assert lines[1].split() == ["learning", "rate", "train", "cost", "test", "cost"] + [
        "train",
        "acc",
        "test",
        "acc",
    ]
    # Each row is what a separate fit of that rate gives.
    for rate, line in zip((0.01, 0.001), lines[2:4], strict=True):
        model = plain_fit(
            X_train, y_train, X_test, y_test, learning_rate=rate, max_iter=80
        )
        assert line.split() == [
            f"{rate:g}",
            f"{model[-1].loss_curve_[-1]:.6f}",
            f"{model[-1].validation_loss_curve_[-1]:.6f}",
            f"{model.score(X_train, y_train):.4f}",
            f"{model.score(X_test, y_test):.4f}",
        ]
    assert lines[4:] == ["cost curves: rates.png"]
    assert (tmp_path / "rates.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("max_iter", [1, 2, 60])
def test_sweep_is_one_descent_equal_to_separate_fits(catvnoncat, max_iter):
    X_train, y_train, X_test, y_test = catvnoncat
    rates = [0.02, 0.005, 0.001, 0.0001]
    rows = cli._sweep_descent(
        X_train,
        y_train,
        X_test,
        y_test,
        learning_rates=rates,
        max_iter=max_iter,
        show_progress=False,
    )
    assert [row.learning_rate for row in rows] == rates
    for rate, row in zip(rates, rows, strict=True):
        model = plain_fit(
            X_train, y_train, X_test, y_test, learning_rate=rate, max_iter=max_iter
        )
        assert row.loss_curve.shape == (max_iter,)
        assert_allclose(row.loss_curve, model[-1].loss_curve_, rtol=1e-10, atol=0)
        # The test cost of the weights whose training cost ends the curve.
        expected = model[-1].validation_loss_curve_[-1]
        assert_allclose(row.test_cost, expected, rtol=1e-10, atol=0)
        if max_iter == 1:  # the starting weights: zeros, probability 1/2
            assert_allclose(row.test_cost, np.log(2), rtol=1e-15)
        assert row.train_acc == model.score(X_train, y_train)
        assert row.test_acc == model.score(X_test, y_test)


def test_sweep_shows_one_progress_bar(tmp_path, catvnoncat_dir, monkeypatch, capsys):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    args = ["sweep", "--data-home", str(catvnoncat_dir), "--max-iter", "90"]
    args += ["--learning-rates", "0.01", "0.001", "--plot", str(tmp_path / "s.png")]
    assert main(args) == 0
    shown = terminal.getvalue()
    assert "learning rates: 100%" in shown and "90/90" in shown
    assert "180" not in shown  # one bar of 90 steps, not one per rate
    assert "learning rate 0.01" not in shown


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
    assert (str(train.model), str(train.plot)) == ("catneuron-model.cnm", "cost.png")
    assert (train.data_home, train.force, train.quiet) == (None, False, False)
    sweep = parser.parse_args(["sweep"])
    assert sweep.learning_rates == [0.01, 0.001, 0.0001]
    assert (sweep.max_iter, str(sweep.plot)) == (1500, "sweep.png")
    predict = parser.parse_args(["predict", "a.png", "folder"])
    assert str(predict.model) == "catneuron-model.cnm"
    assert [str(path) for path in predict.images] == ["a.png", "folder"]


# -- model files that cannot run code ------------------------------------------


def test_model_files_cannot_run_code(tmp_path, catvnoncat):
    _, _, X_test, _ = catvnoncat
    Image.fromarray(X_test[0]).save(tmp_path / "cat.png")
    marker = tmp_path / "code-ran"
    payload = code_running_pickle(marker)
    names = ["evil.cnm", "evil.skops", "evil.joblib", "evil.pkl"]
    processes = {}
    for name in names:
        (tmp_path / name).write_bytes(payload)
        argv, env = command("predict", "--model", name, "cat.png")
        processes[name] = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    for name, process in processes.items():
        out, err = process.communicate(timeout=120)
        result = subprocess.CompletedProcess(
            process.args, process.returncode, out.decode(), err.decode()
        )
        assert_one_line_error(
            result,
            f"^catneuron predict: error: {name} is not a model file written by "
            r"'catneuron train' \(it is not a zip archive; it starts with "
            r"b'\\x80\\x04.*'\); train one with 'catneuron train --model "
            f"{name}'$",
        )
    assert not marker.exists()

    # The files are real threats: pickle and joblib run the code when loading.
    joblib = pytest.importorskip("joblib")
    joblib.load(tmp_path / "evil.joblib")
    assert marker.exists()
    marker.unlink()
    pickle.loads((tmp_path / "evil.pkl").read_bytes())
    assert marker.exists()


# -- nothing lost: failed, interrupted or killed writes ------------------------


def train_args(folder, data_home, *extra, max_iter=5):
    args = ["train", "--data-home", data_home, "--max-iter", max_iter, "--quiet"]
    args += ["--model", folder / "m.cnm", "--plot", folder / "c.png", *extra]
    return [str(arg) for arg in args]


def contents(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def old_outputs(tmp_path, catvnoncat_dir, capsys):
    """A model (5 steps) and a plot from an earlier run in tmp_path: their bytes."""
    assert main(train_args(tmp_path, catvnoncat_dir)) == 0
    capsys.readouterr()
    assert sorted(contents(tmp_path)) == ["c.png", "m.cnm"]
    return contents(tmp_path)


def half_then_fail(write, error, seen):
    """``write(obj, file)`` that writes half of the real bytes, then raises."""

    def failing(obj, file):
        buffer = io.BytesIO()
        write(obj, buffer)
        data = buffer.getvalue()
        file.write(data[: len(data) // 2])
        file.flush()
        seen.append(os.fstat(file.fileno()).st_size)
        raise error

    return failing


FAILURES = {
    "disk full": (
        OSError(errno.ENOSPC, "No space left on device"),
        2,
        r"^catneuron train: error: could not write .*m.cnm \(No space left on "
        r"device\); the existing file is unchanged\n$",
    ),
    "interrupted": (KeyboardInterrupt(), 130, "^catneuron train: interrupted\n$"),
}


@pytest.mark.parametrize("error, status, message", FAILURES.values(), ids=FAILURES)
def test_failed_model_write_keeps_the_old_model(
    tmp_path, catvnoncat_dir, old_outputs, monkeypatch, capsys, error, status, message
):
    seen = []
    dump = half_then_fail(cli._dump_model, error, seen)
    monkeypatch.setattr(cli, "_dump_model", dump)
    assert main(train_args(tmp_path, catvnoncat_dir, "--force", max_iter=7)) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(message, captured.err), captured.err
    assert seen and seen[0] > 0  # it failed half-way through the new model
    # The old model and plot, byte for byte, and no temporary file.
    assert contents(tmp_path) == old_outputs
    assert load_model(tmp_path / "m.cnm")[-1].n_iter_ == 5


@pytest.mark.parametrize("command_name", ["train", "sweep"])
def test_failed_plot_write_keeps_the_old_plot(
    tmp_path, catvnoncat_dir, old_outputs, monkeypatch, capsys, command_name
):
    seen = []
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    real_save = cli._save_figure
    failing = half_then_fail(
        lambda figure, f: real_save(figure, f, "png"), disk_full, seen
    )
    monkeypatch.setattr(
        cli, "_save_figure", lambda figure, f, plot_format: failing(figure, f)
    )
    if command_name == "train":
        args = train_args(tmp_path, catvnoncat_dir, "--force", max_iter=7)
    else:
        args = ["sweep", "--data-home", str(catvnoncat_dir), "--max-iter", "3"]
        args += ["--learning-rates", "0.01", "--plot", str(tmp_path / "c.png")]
        args += ["--force"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"catneuron {command_name}: error: could not write {tmp_path / 'c.png'} "
        "(No space left on device); the existing file is unchanged\n"
    )
    assert seen and seen[0] > 0
    after = contents(tmp_path)
    assert sorted(after) == ["c.png", "m.cnm"]
    assert after["c.png"] == old_outputs["c.png"]
    if command_name == "train":  # --force: the model was written before the plot
        assert load_model(tmp_path / "m.cnm")[-1].n_iter_ == 7


# command, the file that appears meanwhile, the files in the folder afterwards
# (the model is written before the plot).
OUTPUTS = {
    "train model": ("train", "m.cnm", ["m.cnm"]),
    "train plot": ("train", "c.png", ["c.png", "m.cnm"]),
    "sweep plot": ("sweep", "c.png", ["c.png"]),
}


@pytest.mark.parametrize("command_name, name, files", OUTPUTS.values(), ids=OUTPUTS)
def test_file_appearing_during_training_is_not_replaced(
    tmp_path, catvnoncat_dir, monkeypatch, capsys, command_name, name, files
):
    # Checked before training, and again when writing: a file that another
    # program wrote meanwhile is not replaced either (no --force).
    fit_name = "_fit_pipeline" if command_name == "train" else "_sweep_descent"
    real_fit = getattr(cli, fit_name)

    def fit_while_another_program_writes(*args, **kwargs):
        (tmp_path / name).write_bytes(b"another program's file")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli, fit_name, fit_while_another_program_writes)
    if command_name == "train":
        args = train_args(tmp_path, catvnoncat_dir)
    else:
        args = ["sweep", "--data-home", str(catvnoncat_dir), "--max-iter", "3"]
        args += ["--learning-rates", "0.01", "--plot", str(tmp_path / "c.png")]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"catneuron {command_name}: error: {tmp_path / name} already exists; pass "
        "--force to replace it, or choose another file name\n"
    )
    after = contents(tmp_path)
    assert after[name] == b"another program's file"
    assert sorted(after) == files  # and no temporary file


# Runs ``catneuron train`` with a model writer that writes half the model,
# says so, and waits: the test then sends a real signal to the process.
SLOW_DUMP = """
import io, sys, time
from sklearn_catneuron import cli
real_dump = cli._dump_model
def dump(obj, file):
    buffer = io.BytesIO()
    real_dump(obj, buffer)
    data = buffer.getvalue()
    file.write(data[: len(data) // 2])
    file.flush()
    print("half written", flush=True)
    time.sleep(120)
cli._dump_model = dump
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_killed_mid_write_keeps_the_old_model(
    tmp_path, catvnoncat_dir, old_outputs, signal_name
):
    _, env = command()
    args = train_args(tmp_path, catvnoncat_dir, "--force", max_iter=7)
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_DUMP, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "half written\n", process.stderr.read()
        # Mid-write: the new model is half in a hidden temporary file.
        temporary = [p for p in tmp_path.iterdir() if p.name not in old_outputs]
        assert len(temporary) == 1 and temporary[0].stat().st_size > 0
        assert re.fullmatch(r"\.m\.cnm\..+\.tmp", temporary[0].name)
        process.send_signal(getattr(signal, signal_name))
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    after = contents(tmp_path)
    assert after["m.cnm"] == old_outputs["m.cnm"]
    assert after["c.png"] == old_outputs["c.png"]
    assert load_model(tmp_path / "m.cnm")[-1].n_iter_ == 5
    if signal_name != "SIGKILL":  # cleaned up: nothing else left
        status, word = {"SIGINT": (130, "interrupted"), "SIGTERM": (143, "terminated")}[
            signal_name
        ]
        assert (process.returncode, out, err) == (
            status,
            "",
            f"catneuron train: {word}\n",
        )
        assert after == old_outputs
    else:  # no process can clean up after SIGKILL: the hidden file stays
        assert process.returncode == -signal.SIGKILL
        assert sorted(set(after) - set(old_outputs)) == [temporary[0].name]


# -- predict: formats, modes, damaged pictures, folders ------------------------


def predict_csv(model_file, *items, cwd):
    """Run ``predict --format csv``: (CompletedProcess, rows as dicts)."""
    result = run("predict", "--model", model_file, "--format", "csv", *items, cwd=cwd)
    return result, list(csv.DictReader(io.StringIO(result.stdout)))


def save(image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def decoded(path):
    """What Pillow decodes from ``path`` (first frame), as RGB, 64x64."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_predict_every_format_and_mode(tmp_path, model_file, model, catvnoncat):
    _, _, X, _ = catvnoncat
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    gray = np.asarray(Image.fromarray(X[8]).convert("L"))
    alpha = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    palette = Image.fromarray(X[10]).quantize(64)
    palette.info["transparency"] = bytes(rng.integers(0, 256, 64, dtype=np.uint8))
    ramp = (np.arange(64 * 64, dtype=np.uint16) * 16).reshape(64, 64)
    animation = folder / "k_animated.gif"
    Image.fromarray(X[6]).save(
        animation, save_all=True, append_images=[Image.fromarray(X[7])]
    )
    # name: expected 64x64x3 input of the model (lossless formats: the test image)
    expected = {
        "a_exact.png": X[0],
        "b_lossless.webp": X[1],
        "c_bitmap.bmp": X[2],
        "d_exact.tif": X[3],
        "e_UPPER.TIFF": X[4],
        "h_gray.png": np.stack([gray] * 3, axis=-1),
        "i_rgba_alpha_dropped.png": X[9],
        "j_la.png": np.stack([gray] * 3, axis=-1),
        "l_palette_transparent.png": np.asarray(palette.convert("RGBA"))[..., :3],
        "m_grey16_mid.png": np.full((64, 64, 3), 128, np.uint8),
        "n_ramp16.png": np.stack([(ramp >> 8).astype(np.uint8)] * 3, axis=-1),
    }
    save(Image.fromarray(X[0]), folder / "a_exact.png")
    save(Image.fromarray(X[1]), folder / "b_lossless.webp", lossless=True)
    save(Image.fromarray(X[2]), folder / "c_bitmap.bmp")
    save(Image.fromarray(X[3]), folder / "d_exact.tif")
    save(Image.fromarray(X[4]), folder / "e_UPPER.TIFF", format="TIFF")
    save(Image.fromarray(gray), folder / "h_gray.png")
    save(Image.fromarray(np.dstack([X[9], alpha])), folder / "i_rgba_alpha_dropped.png")
    save(Image.fromarray(np.dstack([gray, alpha])), folder / "j_la.png")
    save(palette, folder / "l_palette_transparent.png")
    # 16-bit grayscale: mid-grey 32768 stays 128 (clipping would give 255).
    save(
        Image.fromarray(np.full((10, 10), 32768, np.uint16)),
        folder / "m_grey16_mid.png",
    )
    save(Image.fromarray(ramp), folder / "n_ramp16.png")
    # Lossy or reduced formats: what Pillow decodes.
    for name, image in {
        "f_photo.JPG": Image.fromarray(X[5]),
        "g_cmyk.jpeg": Image.fromarray(X[11]).convert("CMYK"),
        "o_palette.gif": Image.fromarray(X[12]),
        "p_bilevel.png": Image.fromarray(X[13]).convert("1"),
    }.items():
        expected[name] = decoded(save(image, folder / name))
    expected[animation.name] = decoded(animation)  # the first frame
    with Image.open(folder / "m_grey16_mid.png") as image:
        assert image.mode == "I;16"
    with Image.open(folder / "g_cmyk.jpeg") as image:
        assert image.mode == "CMYK"

    result, rows = predict_csv(model_file, folder, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    names = sorted(expected)
    assert [row["file"] for row in rows] == [str(folder / name) for name in names]
    proba = model.predict_proba(np.stack([expected[name] for name in names]))
    got = [
        [float(row["probability_non-cat"]), float(row["probability_cat"])]
        for row in rows
    ]
    assert_allclose(got, proba, rtol=1e-9)
    labels = [["non-cat", "cat"][i] for i in proba.argmax(axis=1)]
    assert [row["label"] for row in rows] == labels
    # The animation's second frame would give another answer: frame 0 was used.
    second = model.predict_proba(X[7][None])[0]
    assert abs(second[1] - proba[names.index(animation.name), 1]) > 1e-3


def test_predict_skips_damaged_pictures_and_other_files(
    tmp_path, model_file, catvnoncat
):
    _, _, X, _ = catvnoncat
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(X[0]).save(folder / "good.png")
    Image.fromarray(X[1]).save(folder / "data.PNG")
    Image.fromarray(X[2]).save(folder / "whole.jpg")
    jpeg = (folder / "whole.jpg").read_bytes()
    (folder / "whole.jpg").unlink()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "noise.png").write_bytes(np.random.default_rng(1).bytes(500))
    # Passed over silently: not pictures by name, hidden, or folders.
    (folder / "notes.txt").write_text("not a picture")
    (folder / "README").write_text("not a picture")
    (folder / ".DS_Store.png").write_bytes(b"\x00\x05\x16\x07")
    (folder / "sub.png").mkdir()
    Image.fromarray(X[3]).save(folder / "sub.png" / "nested.png")
    (tmp_path / "named.gif").write_bytes(b"GIF89a broken")

    result, good = run_many(
        ["predict", "--model", model_file, folder, "missing.jpg", "named.gif"],
        ["predict", "--model", model_file, folder / "good.png"],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        f"catneuron predict: error: cannot read the picture "
        f"{re.escape(str(folder / 'truncated.jpg'))} \\(OSError: image file is "
        r"truncated \(\d+ bytes not processed\)\); the file is damaged, replace "
        "it; skipped",
        lines.pop(1),
    )
    assert lines == [
        f"catneuron predict: error: cannot read the picture {folder / 'noise.png'}: "
        "it is not a PNG, JPEG, WEBP, BMP, GIF or TIFF picture (it starts with "
        f"{(folder / 'noise.png').read_bytes()[:8]!r}); skipped",
        "catneuron predict: error: missing.jpg does not exist; give picture files "
        "or folders; skipped",
        "catneuron predict: error: cannot read the picture named.gif (it is not a "
        "valid GIF file); the file is damaged, replace it; skipped",
    ]
    files = [line.split()[0] for line in result.stdout.splitlines()]
    assert files == [str(folder / "data.PNG"), str(folder / "good.png")]

    # Only good pictures: status 0, nothing on stderr.
    assert (good.returncode, good.stderr) == (0, "")


@pytest.mark.skipif(
    sys.platform != "linux", reason="needs a file system that takes any bytes"
)
def test_predict_file_names_that_are_not_utf8(tmp_path, model_file, catvnoncat):
    _, _, X, _ = catvnoncat
    folder = os.fsencode(tmp_path)
    good, bad = folder + b"/caf\xe9.png", folder + b"/\xff\xfe.png"
    Image.fromarray(X[0]).save(os.fsdecode(good))
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nbroken")
    argv, env = command("predict", "--model", model_file)
    processes = {
        fmt: subprocess.Popen(
            [*argv, "--format", fmt, folder],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for fmt in ("text", "csv", "json")
    }
    outputs = {}
    for fmt, process in processes.items():
        stdout, stderr = process.communicate(timeout=180)
        process = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
        assert process.returncode == 1, process.stderr
        # The damaged one: one line, its name escaped.
        assert process.stderr.splitlines() == [
            b"catneuron predict: error: cannot read the picture "
            + folder
            + b"/\\udcff\\udcfe.png (it is not a valid PNG file); the file is "
            b"damaged, replace it; skipped"
        ]
        outputs[fmt] = process.stdout
    # text and csv: the name's own bytes, as ls prints them.
    assert outputs["text"].split()[0] == good
    rows = list(
        csv.reader(io.StringIO(outputs["csv"].decode("utf-8", "surrogateescape")))
    )
    assert os.fsencode(rows[1][0]) == good
    # json: valid ASCII JSON; os.fsencode gives the bytes back.
    records = json.loads(outputs["json"].decode("ascii"))
    assert [os.fsencode(record["file"]) for record in records] == [good]


def test_predict_csv_json_and_output_file(
    tmp_path, model_file, model, catvnoncat, monkeypatch, capsys
):
    _, _, X, _ = catvnoncat
    names = ["b, with comma.png", 'c "quoted".png', "a.png"]
    for i, name in enumerate(names):
        Image.fromarray(X[i]).save(tmp_path / name)
    proba = model.predict_proba(X[:3])
    labels = [["non-cat", "cat"][i] for i in proba.argmax(axis=1)]

    # csv on stdout; json to a file (nothing on stdout); json, nothing readable.
    predict = ["predict", "--model", model_file]
    as_csv, as_json, empty = run_many(
        [*predict, "--format", "csv", *names],
        [*predict, "--format", "json", "--output", "out.json", *names],
        [*predict, "--format", "json", "missing.png"],
        cwd=tmp_path,
    )
    assert (as_csv.returncode, as_csv.stderr) == (0, "")
    assert as_csv.stdout.splitlines()[0] == (
        "file,label,probability_non-cat,probability_cat"
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [row["file"] for row in rows] == names  # in the order given
    assert [row["label"] for row in rows] == labels
    assert_allclose(
        [[float(row[f"probability_{c}"]) for c in ("non-cat", "cat")] for row in rows],
        proba,
        rtol=1e-12,
    )
    assert (as_json.returncode, as_json.stdout, as_json.stderr) == (0, "", "")
    records = json.loads((tmp_path / "out.json").read_text())
    assert [sorted(record) for record in records] == [
        ["file", "label", "probabilities"]
    ] * 3
    assert [record["file"] for record in records] == names
    assert [record["label"] for record in records] == labels
    assert_allclose(
        [[r["probabilities"]["non-cat"], r["probabilities"]["cat"]] for r in records],
        proba,
        rtol=1e-12,
    )
    assert (empty.returncode, json.loads(empty.stdout)) == (1, [])  # still valid

    # No silent overwrite; --force replaces it; no temporary file is left.
    before = (tmp_path / "out.json").read_bytes()
    again = run(*predict, "--output", "out.json", "a.png", cwd=tmp_path)
    assert_one_line_error(
        again,
        "^catneuron predict: error: out.json already exists; pass --force to "
        "replace it, or choose another file name$",
    )
    assert (tmp_path / "out.json").read_bytes() == before
    # (in this process, to save the start-up of another)
    monkeypatch.chdir(tmp_path)
    forced = [*predict, "--format", "csv", "--output", "out.json", "--force"]
    assert main([*map(str, forced), "a.png", "missing.png"]) == 1  # one skipped
    assert capsys.readouterr() == (
        "",
        "catneuron predict: error: missing.png does not exist; give picture files "
        "or folders; skipped\n",
    )
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.json").read_text())))
    assert [row["file"] for row in rows] == ["a.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names, "out.json"])


def apng_with_bad_frame_count(image):
    """PNG bytes with an acTL chunk of 0 frames: Pillow warns, then reads it."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    png = buffer.getvalue()
    data = struct.pack(">II", 0, 0)
    chunk = struct.pack(">I", 8) + b"acTL" + data
    chunk += struct.pack(">I", zlib.crc32(b"acTL" + data))
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def test_predict_warnings_never_reach_stderr(tmp_path, model_file, model, catvnoncat):
    _, _, X, _ = catvnoncat
    warns = apng_with_bad_frame_count(Image.fromarray(X[0]))
    (tmp_path / "warns.png").write_bytes(warns)
    (tmp_path / "warns_truncated.png").write_bytes(warns[: len(warns) // 2])
    # Between 1 and 2 times the pixel limit Pillow only warns (and would decode).
    (tmp_path / "big.png").write_bytes(png_header(9000, 9000))
    with pytest.warns(UserWarning, match="Invalid APNG"):  # Pillow does warn
        with Image.open(tmp_path / "warns.png") as image:
            assert_array_equal(np.asarray(image), X[0])

    argv, env = command(
        "predict", "--model", model_file, "warns.png", "warns_truncated.png", "big.png"
    )
    env["PYTHONWARNINGS"] = "always"  # every warning would be shown
    result = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "catneuron predict: error: cannot read the picture warns_truncated.png "
        "(OSError: image file is truncated; Pillow warned: Invalid APNG, will use "
        "default PNG image if possible); the file is damaged, replace it; skipped",
        "catneuron predict: error: refusing to read the picture big.png: Image size "
        "(81000000 pixels) exceeds limit of 67108864 pixels, could be decompression "
        "bomb DOS attack. Give a picture of at most 67108864 pixels; skipped",
    ]
    proba = model.predict_proba(X[:1])[0]
    assert result.stdout == f"warns.png  cat      {proba[1]:.4f}\n"


def test_library_warnings_are_dropped(tmp_path, model_file, monkeypatch, capsys):
    # scikit-learn's (or any library's) warnings during a command: no stray line.
    from sklearn.exceptions import DataConversionWarning

    real = cli._predict_proba

    def predict_proba_that_warns(*args):
        warnings.warn("y is a column vector", DataConversionWarning, stacklevel=2)
        return real(*args)

    monkeypatch.setattr(cli, "_predict_proba", predict_proba_that_warns)
    black = tmp_path / "black.png"
    Image.new("RGB", (64, 64)).save(black)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        status = main(
            ["predict", "--model", str(model_file), str(tmp_path / "black.png")]
        )
    captured = capsys.readouterr()
    assert (status, captured.err) == (0, "")
    assert captured.out.startswith(str(black))


def test_predict_reads_pictures_one_batch_at_a_time(tmp_path, monkeypatch):
    # The folder is read lazily: the first batch is ready after 256 pictures,
    # not after all of them, so memory holds one batch at a time.
    for i in range(600):
        (tmp_path / f"{i:04d}.png").touch()
    read = []

    def fake_read(path, image_shape):
        read.append(path)
        return np.full(image_shape, len(read) % 256, np.uint8)

    monkeypatch.setattr(cli, "_read_picture", fake_read)
    failures = []
    batches = cli._picture_batches([tmp_path], (64, 64, 3), failures)
    paths, images = next(batches)
    assert (len(paths), images.shape, len(read)) == (256, (256, 64, 64, 3), 256)
    assert paths == read == [tmp_path / f"{i:04d}.png" for i in range(256)]
    rest = [(len(paths), images.shape[0]) for paths, images in batches]
    assert rest == [(256, 256), (88, 88)]
    assert (len(read), failures) == (600, [])


MEASURE_PEAK = """
import resource, sys
from sklearn_catneuron.cli import main
status = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(status)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_predict_memory_is_bounded_over_many_pictures(tmp_path, model_file, catvnoncat):
    # 4,000 pictures held at once would take 4000 x 12288 x 9 bytes (uint8
    # and float64): 442 MB more than one picture. Batches of 256: about 28 MB.
    _, _, X, _ = catvnoncat
    folder = tmp_path / "many"
    folder.mkdir()
    Image.fromarray(X[0]).save(tmp_path / "one.png")
    png = (tmp_path / "one.png").read_bytes()
    for i in range(4000):
        (folder / f"{i:05d}.png").write_bytes(png)
    _, env = command()
    processes = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-c",
                MEASURE_PEAK,
                tmp_path / f"{name}.rss",
                "predict",
                "--model",
                model_file,
                "--format",
                "csv",
                tmp_path / name,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in ("one.png", "many")
    }
    peaks, lines = {}, {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert (process.returncode, err) == (0, ""), err
        lines[name] = len(out.splitlines())
        peaks[name] = int((tmp_path / f"{name}.rss").read_text()) * 1024
    assert lines == {"one.png": 2, "many": 4001}
    assert peaks["many"] - peaks["one.png"] < 100 * 2**20, peaks


# -- plots, bounds and signals ------------------------------------------------


PLOT_MAGIC = {
    "c.pdf": b"%PDF-",
    "c.svg": b"<?xml",
    "c.eps": b"%!PS-Adobe-3.0 EPSF",
    "c.PNG": PNG_SIGNATURE,
}


def test_plot_format_from_the_suffix(tmp_path, catvnoncat_dir, capsys):
    for name, magic in PLOT_MAGIC.items():
        args = train_args(tmp_path, catvnoncat_dir, "--force", max_iter=3)
        args[args.index("--plot") + 1] = str(tmp_path / name)
        assert main(args) == 0
        assert (tmp_path / name).read_bytes().startswith(magic), name
    assert b"<svg" in (tmp_path / "c.svg").read_bytes()[:500]
    capsys.readouterr()
    # As a process too: a PDF (and a model file name that is not UTF-8, which
    # the report prints as its bytes), then a suffix matplotlib cannot write.
    model_name = "p\udcff.skops" if sys.platform == "linux" else "p.skops"
    argv, env = command(*train_args(tmp_path, catvnoncat_dir, max_iter=3)[:-4])
    pdf = subprocess.run(
        [*argv, "--model", model_name, "--plot", "p.pdf"],
        cwd=tmp_path, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert (pdf.returncode, pdf.stderr) == (0, b""), pdf.stderr
    assert pdf.stdout.splitlines()[-2] == b"model:          " + os.fsencode(model_name)
    assert (tmp_path / "p.pdf").read_bytes()[:5] == b"%PDF-"
    before = contents(tmp_path)
    xyz = run("train", "--model", "x.skops", "--plot", "x.xyz", cwd=tmp_path)
    assert_one_line_error(
        xyz,
        "^catneuron train: error: cannot save a plot as x.xyz: the file name must "
        r"end in one of .png, .pdf, .svg, .eps, .ps \(the suffix gives the format\)$",
    )
    assert contents(tmp_path) == before


@pytest.mark.parametrize("command_name", ["train", "sweep"])
def test_max_iter_out_of_bounds_is_one_line(tmp_path, command_name):
    huge = run(command_name, "--max-iter", "1000000000000", cwd=tmp_path)
    assert_one_line_error(
        huge,
        f"^catneuron {command_name}: error: argument --max-iter: at most 10000000 "
        "steps",
    )
    float_like = run(command_name, "--max-iter", "1e24", cwd=tmp_path)
    assert_one_line_error(float_like, "must be a positive integer, got '1e24'")
    assert "learning" not in float_like.stderr
    assert list(tmp_path.iterdir()) == []


# Runs ``catneuron train``, saying when training starts.
SAY_WHEN_TRAINING = """
import sys
from sklearn_catneuron import cli
real_fit = cli._fit_pipeline
def fit(*args, **kwargs):
    print("training", flush=True)
    return real_fit(*args, **kwargs)
cli._fit_pipeline = fit
sys.exit(cli.main(sys.argv[1:]))
"""


def test_sigterm_during_training_keeps_the_old_outputs(
    tmp_path, catvnoncat_dir, old_outputs
):
    _, env = command()
    args = train_args(tmp_path, catvnoncat_dir, "--force", max_iter=10**7)
    process = subprocess.Popen(
        [sys.executable, "-c", SAY_WHEN_TRAINING, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "training\n", process.stderr.read()
        time.sleep(0.5)
        assert process.poll() is None  # still training
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (process.returncode, out, err) == (143, "", "catneuron train: terminated\n")
    assert contents(tmp_path) == old_outputs  # old model and plot, nothing else


# -- start-up ------------------------------------------------------------------

HEAVY = ["numpy", "scipy", "sklearn", "h5py", "matplotlib", "PIL", "tqdm", "skops"]
HEAVY += ["dask", "pandas"]

LOADED_AFTER = """
import contextlib, io, sys
from sklearn_catneuron.cli import main
for argv in {argvs!r}:
    with contextlib.redirect_stdout(io.StringIO()):
        with contextlib.redirect_stderr(io.StringIO()):
            main(argv)
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def test_parser_imports_nothing_heavy(tmp_path):
    argvs = [["--help"], ["--version"], ["train", "--help"], ["predict", "--help"]]
    argvs += [["train", "--max-iter", "0"], ["sweep", "--plot", "s.xyz"]]
    code = LOADED_AFTER.format(argvs=argvs, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "\n", "")


def test_predict_imports_no_plotting(tmp_path, model_file, catvnoncat):
    _, _, X, _ = catvnoncat
    Image.fromarray(X[0]).save(tmp_path / "cat.png")
    argvs = [["predict", "--model", str(model_file), "cat.png"]]
    code = LOADED_AFTER.format(argvs=argvs, heavy=["matplotlib", "tqdm"])
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "\n", "")


@pytest.mark.skipif(
    cli._usable_cpus() < 2, reason="on one CPU the plot is drawn in this process"
)
def test_train_and_sweep_leave_matplotlib_to_the_plot_process(tmp_path, catvnoncat_dir):
    # The plot is drawn by the second process (_PlotProcess): this one never
    # imports matplotlib, and the plots are written all the same.
    argvs = [train_args(tmp_path, catvnoncat_dir)]
    argvs += [["sweep", "--data-home", str(catvnoncat_dir), "--max-iter", "3"]]
    argvs[-1] += ["--quiet", "--plot", str(tmp_path / "s.png")]
    code = LOADED_AFTER.format(argvs=argvs, heavy=["matplotlib"])
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "\n", "")
    assert sorted(contents(tmp_path)) == ["c.png", "m.cnm", "s.png"]
    for name in ("c.png", "s.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)


def test_the_script_runs_main_then_freezes_the_collector(tmp_path):
    # The catneuron script and 'python -m sklearn_catneuron' end with
    # gc.freeze(): the shutdown then skips collecting every library object.
    # main itself, called from Python, leaves the collector alone.
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="catneuron")
    assert script.value == "sklearn_catneuron.cli:_script_main"
    code = (
        "import gc, sys; from sklearn_catneuron import cli; "
        "sys.argv[1:] = ['train', '--max-iter', '0']; "
        "print(cli.main(), gc.get_freeze_count() == 0, file=sys.stdout); "
        "print(cli._script_main(), gc.get_freeze_count() > 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.stdout.splitlines() == ["2 True", "2 True"]
    main_module = Path(sklearn_catneuron.__file__).with_name("__main__.py").read_text()
    assert "raise SystemExit(_script_main())" in main_module


def test_package_names_load_on_first_use():
    code = (
        "import sys, sklearn_catneuron as p; "
        "print('sklearn' in sys.modules, 'numpy' in sys.modules); "
        "print(p.SigmoidNeuronClassifier.__module__, 'sklearn' in sys.modules); "
        "print(set(p.__all__) <= set(dir(p)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == [
        "False False",
        "sklearn_catneuron._neuron True",
        "True",
    ]
    with pytest.raises(AttributeError, match="has no attribute 'Neuron'"):
        sklearn_catneuron.Neuron  # noqa: B018


def test_missing_packages_name_a_command_that_works(tmp_path):
    # The message names the package to install, and the checkout's extra.
    code = (
        "import sys; sys.modules['tqdm'] = None; "
        "from sklearn_catneuron.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "train", "--plot", "c.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert_one_line_error(
        result,
        "^catneuron train: error: catneuron train needs tqdm, which is not "
        "installed; install it with 'pip install tqdm', or install all the command "
        """line needs with 'pip install -e ".\\[cli\\]"' in the sklearn-catneuron """
        "folder$",
    )


def test_predict_into_a_closed_pipe_is_quiet(tmp_path, model_file, catvnoncat):
    # 'catneuron predict photos/ | head -1': the reader goes away; no traceback,
    # no message, status 141 as for a process killed by SIGPIPE.
    _, _, X, _ = catvnoncat
    Image.fromarray(X[0]).save(tmp_path / "cat.png")
    read_end, write_end = os.pipe()
    os.close(read_end)
    argv, env = command("predict", "--model", model_file, "cat.png")
    try:
        result = subprocess.run(
            argv, cwd=tmp_path, env=env, stdout=write_end, stderr=subprocess.PIPE,
            text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_predict_never_waits_on_a_pipe_named_like_a_picture(
    tmp_path, model_file, catvnoncat, capsys
):
    # A pipe (or a link to a device) inside a folder, with a picture's name:
    # reported and skipped, never read (reading would wait forever).
    _, _, X, _ = catvnoncat
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(X[0]).save(folder / "a.png")
    os.mkfifo(folder / "b.png")
    (folder / "c.jpg").symlink_to(os.devnull)
    assert main(["predict", "--model", str(model_file), str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"catneuron predict: error: {folder / name} is neither a file nor a folder; "
        "give picture files or folders; skipped"
        for name in ("b.png", "c.jpg")
    ]
    assert [line.split()[0] for line in captured.out.splitlines()] == [
        str(folder / "a.png")
    ]


@pytest.mark.parametrize("command_name", ["train", "sweep"])
def test_failed_fetch_creates_no_data_folder(tmp_path, command_name):
    """A data home that does not exist is not created when nothing was fetched."""
    argv, env = command(command_name, "--data-home", "typo/deep/data", "--quiet")
    env["CATNEURON_OFFLINE"] = "1"
    result = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "typo").exists()
    assert list(tmp_path.iterdir()) == []
