"""The catneuron command line, end to end through ``python -m sklearn_catneuron``.

Each bad option, data folder, model file and picture is a row of the
subcommand tables in ``test_bad_input.py``; here are the happy paths, model
files that would run code, and failed or killed writes that must lose nothing.
"""

import errno
import io
import os
import pickle
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from _files import PNG_SIGNATURE, code_running_pickle
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    __version__,
    cli,
    load_model,
)
from sklearn_catneuron.cli import _fit_with_progress, build_parser, main

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


def assert_one_line_error(result, match):
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert re.search(match, result.stderr), result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory, catvnoncat_dir):
    """A full default ``catneuron train`` run: (folder, CompletedProcess)."""
    folder = tmp_path_factory.mktemp("train")
    result = run("train", cwd=folder, data_home=catvnoncat_dir)
    return folder, result


@pytest.fixture(scope="module")
def model_file(trained):
    return trained[0] / "catneuron-model.cnm"


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
        "model:          catneuron-model.cnm",
        "cost curve:     cost.png",
    ]
    assert (folder / "cost.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in folder.iterdir()) == [
        "catneuron-model.cnm",
        "cost.png",
    ]

    # The saved pipeline is exactly one 2000-step fit of the reference.
    model = load_model(folder / "catneuron-model.cnm")
    _, _, X_test, y_test = catvnoncat
    reference = reference_pipeline
    assert model.get_params(deep=True).keys() == reference.get_params().keys()
    assert model[-1].get_params() == reference[-1].get_params()
    assert model[-1].n_iter_ == 2000
    # Chunks restart the Gram path from coef_: the same iterates up to rounding.
    assert_allclose(model[-1].coef_, reference[-1].coef_, rtol=1e-9, atol=1e-15)
    assert_allclose(model[-1].intercept_, reference[-1].intercept_, rtol=1e-9)
    assert_allclose(model[-1].loss_curve_, reference[-1].loss_curve_, rtol=1e-12)
    assert_array_equal(np.round(model[-1].loss_curve_[::100], 6), reference_costs)
    assert np.sum(model.predict(X_test) == y_test) == 35


def test_chunked_training_has_the_iterates_of_one_fit(catvnoncat, capsys):
    X_train, y_train, _, _ = catvnoncat
    chunked = _fit_with_progress(
        X_train,
        y_train,
        learning_rate=0.005,
        max_iter=250,  # two full chunks and a half one (chunks need the bar)
        show_progress=True,
        desc="test",
    )
    assert "250/250" in capsys.readouterr().err
    one_fit = make_pipeline(
        ImageFlattener(), SigmoidNeuronClassifier(learning_rate=0.005, max_iter=250)
    ).fit(X_train, y_train)
    assert chunked[-1].get_params() == one_fit[-1].get_params()
    assert chunked[-1].n_iter_ == 250
    assert_allclose(chunked[-1].loss_curve_, one_fit[-1].loss_curve_, rtol=1e-12)
    assert_allclose(chunked[-1].coef_, one_fit[-1].coef_, rtol=1e-9, atol=1e-15)
    assert_allclose(chunked[-1].intercept_, one_fit[-1].intercept_, rtol=1e-9)


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
        assert "training" in terminal.getvalue()
        assert "150/150" in terminal.getvalue()


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
    monkeypatch.setattr(
        cli, "_save_png", half_then_fail(cli._save_png, disk_full, seen)
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
    real_fit = cli._fit_with_progress

    def fit_while_another_program_writes(*args, **kwargs):
        (tmp_path / name).write_bytes(b"another program's file")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli, "_fit_with_progress", fit_while_another_program_writes)
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


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
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
    if signal_name == "SIGINT":  # cleaned up: nothing else left
        assert (process.returncode, out, err) == (
            130,
            "",
            "catneuron train: interrupted\n",
        )
        assert after == old_outputs
    else:  # no process can clean up after SIGKILL: the hidden file stays
        assert process.returncode == -signal.SIGKILL
        assert sorted(set(after) - set(old_outputs)) == [temporary[0].name]
