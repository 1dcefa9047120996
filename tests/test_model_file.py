"""Model files: round trips, and every hostile or damaged file refused.

The attacker's files (skops pipelines that run shell commands, pickles,
tampered and oversized archives, FIFOs and devices) go through
``load_model`` in this process and through ``catneuron predict`` in real
processes; a marker file that the payloads would create must never appear.
"""

import copy
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from _files import code_running_pickle
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_catneuron import (
    ImageFlattener,
    ModelFileError,
    NeuronPipeline,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
    load_model,
    save_model,
)
from sklearn_catneuron._model_file import MAX_FEATURES

Image = pytest.importorskip("PIL.Image")

MEMBERS = ["model.json", "classes.npy", "coef.npy", "intercept.npy", "loss_curve.npy"]
DAMAGED = r"is a damaged or altered model file \({}\); train a new one"
NOT_A_MODEL = r"is not a model file written by 'catneuron train' \({}\)"
SKOPS = (
    "was written by an older version of sklearn-catneuron in the skops format, "
    "which is no longer loaded because such files can run code; train the model "
    "again with 'catneuron train'"
)


@pytest.fixture(scope="module")
def fitted(catvnoncat):
    X_train, y_train, _, _ = catvnoncat
    return make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=30)).fit(
        X_train, y_train
    )


@pytest.fixture(scope="module")
def model_bytes(fitted):
    buffer = io.BytesIO()
    save_model(fitted, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def members_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(members, compression=zipfile.ZIP_STORED):
    """A zip of ``members`` (a dict, or a list of pairs for duplicates)."""
    buffer = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buffer.getvalue()


def npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def with_document(data, change):
    """``data`` with its model.json changed in place by ``change(document)``."""
    members = members_of(data)
    document = json.loads(members["model.json"])
    change(document)
    members["model.json"] = json.dumps(document).encode()
    return rezip(members)


def with_array(data, name, array, declare=True):
    """``data`` with the neuron's array ``name`` replaced (and declared so)."""
    members = members_of(data)
    members[name.rstrip("_") + ".npy"] = npy(array)
    if declare:
        document = json.loads(members["model.json"])
        document["arrays"][name] = {"dtype": array.dtype.str, "shape": array.shape}
        members["model.json"] = json.dumps(document).encode()
    return rezip(members)


def with_member(data, name, raw):
    return rezip({**members_of(data), name: raw})


def _fortran_npy(shape):
    """An .npy of zeros whose header says Fortran order (np.save never does
    for one row)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": True, "shape": shape}
    )
    return header.getvalue() + bytes(8 * int(np.prod(shape)))


def load_bytes(data, folder, name="model.cnm"):
    path = folder / name
    path.write_bytes(data)
    return load_model(path)


def assert_same_model(loaded, original, X):
    assert [type(step) for step in loaded] == [type(step) for step in original]
    assert [name for name, _ in loaded.steps] == [name for name, _ in original.steps]
    for new, old in zip(loaded, original, strict=True):
        assert new.get_params() == old.get_params()
    assert loaded[0].image_shape_ == original[0].image_shape_
    assert loaded[0].n_features_in_ == original[0].n_features_in_
    for name in ("classes_", "coef_", "intercept_", "loss_curve_"):
        new, old = getattr(loaded[-1], name), getattr(original[-1], name)
        assert new.dtype == old.dtype
        assert_array_equal(new, old)
    assert loaded[-1].n_iter_ == original[-1].n_iter_
    assert_array_equal(loaded.predict_proba(X), original.predict_proba(X))
    assert_array_equal(loaded.predict(X), original.predict(X))


# -- round trips ---------------------------------------------------------------


def test_round_trip(tmp_path, fitted, catvnoncat):
    _, _, X_test, _ = catvnoncat
    path = save_model(fitted, tmp_path / "model.cnm")
    assert path == tmp_path / "model.cnm"
    assert os.listdir(tmp_path) == ["model.cnm"]  # no temporary file left
    assert_same_model(load_model(path), fitted, X_test)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == MEMBERS
        assert {info.compress_type for info in archive.infolist()} == {0}
        document = json.loads(archive.read("model.json"))
    assert document["format"] == "sklearn-catneuron model"
    assert document["format_version"] == 1
    assert document["steps"][0]["image_shape_"] == [64, 64, 3]
    assert document["arrays"]["coef_"] == {"dtype": "<f8", "shape": [1, 12288]}


def test_loads_as_a_neuron_pipeline_and_saves_one(tmp_path, fitted, model_bytes):
    """``load_model`` gives a NeuronPipeline (blocked predictions), which
    ``save_model`` writes as the same bytes as the plain Pipeline."""
    (tmp_path / "m.cnm").write_bytes(model_bytes)
    loaded = load_model(tmp_path / "m.cnm")
    assert type(loaded) is NeuronPipeline
    assert [name for name, _ in loaded.steps] == [name for name, _ in fitted.steps]
    save_model(loaded, tmp_path / "again.cnm")
    assert (tmp_path / "again.cnm").read_bytes() == model_bytes


def test_same_model_same_bytes(tmp_path, fitted, model_bytes):
    save_model(fitted, tmp_path / "a.cnm")
    assert (tmp_path / "a.cnm").read_bytes() == model_bytes


@pytest.mark.filterwarnings("ignore:Gradient descent did not reach tol")
@pytest.mark.parametrize(
    "image_shape, labels, dtype, params",
    [
        ((5, 4, 3), ["cat", "dog"], np.float64, {}),
        ((5, 4, 1), [False, True], np.float32, {"class_weight": {0: 1.0, 1: 2.5}}),
        ((5, 4), [-3.0, 7.0], np.float64, {"tol": 1e-4, "init": "random"}),
        ((5, 4, 3), [3, 9], np.float32, {"class_weight": "balanced"}),
    ],
)
def test_round_trip_variants(tmp_path, rng, image_shape, labels, dtype, params):
    images = rng.integers(0, 256, (30, *image_shape)).astype(dtype)
    y = np.asarray(labels)[(images.reshape(30, -1).mean(axis=1) > 127).astype(int)]
    y[:2] = labels  # both classes present
    if "class_weight" in params and isinstance(params["class_weight"], dict):
        params = {"class_weight": dict(zip(labels, (1.0, 2.5), strict=True))}
    model = Pipeline(
        [
            ("pixels", ImageFlattener()),
            ("neuron", SigmoidNeuronClassifier(max_iter=20, random_state=0, **params)),
        ]
    ).fit(images, y)
    save_model(model, tmp_path / "m.cnm")
    assert_same_model(load_model(tmp_path / "m.cnm"), model, images)


class DLPackOnly:
    """An array of another library: only the DLPack protocol, no __array__."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


class ArrayOnly:
    """An array-like with only ``__array__`` (as pandas or older libraries)."""

    def __init__(self, array):
        self._array = array

    def __array__(self, dtype=None, copy=None):
        return self._array


@pytest.mark.parametrize("wrapper", [DLPackOnly, ArrayOnly])
def test_arrays_of_other_libraries_are_saved_as_numpy(tmp_path, fitted, wrapper):
    model = copy.deepcopy(fitted)
    neuron = model[-1]
    neuron.coef_ = wrapper(fitted[-1].coef_)
    neuron.intercept_ = wrapper(fitted[-1].intercept_)
    save_model(model, tmp_path / "m.cnm")
    loaded = load_model(tmp_path / "m.cnm")
    assert type(loaded[-1].coef_) is np.ndarray
    assert_array_equal(loaded[-1].coef_, fitted[-1].coef_)
    assert_array_equal(loaded[-1].intercept_, fitted[-1].intercept_)


# -- save_model refuses what load_model would not load --------------------------


def _fitted_on(images, y, *steps):
    return make_pipeline(*steps).fit(images, y)


def test_save_refuses_other_models(tmp_path, rng, fitted):
    images = rng.integers(0, 256, (30, 4, 4, 3))
    y = np.arange(30) % 2
    y3 = np.arange(30) % 3
    flat = images.reshape(30, -1)

    class MyNeuron(SigmoidNeuronClassifier):
        pass

    cases = {
        "the neuron alone": (
            SigmoidNeuronClassifier(max_iter=2).fit(flat, y),
            TypeError,
            "got a SigmoidNeuronClassifier",
        ),
        "the CV neuron": (
            _fitted_on(
                images, y, ImageFlattener(), SigmoidNeuronClassifierCV(max_iter=2, cv=2)
            ),
            TypeError,
            "got a Pipeline of ImageFlattener, SigmoidNeuronClassifierCV",
        ),
        "a function in the middle": (
            _fitted_on(
                images,
                y,
                ImageFlattener(),
                FunctionTransformer(np.sqrt),
                SigmoidNeuronClassifier(max_iter=2),
            ),
            TypeError,
            "ImageFlattener, FunctionTransformer, SigmoidNeuronClassifier",
        ),
        "a subclass": (
            _fitted_on(images, y, ImageFlattener(), MyNeuron(max_iter=2)),
            TypeError,
            "ImageFlattener, MyNeuron",
        ),
        "unfitted": (
            make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()),
            NotFittedError,
            "not fitted yet",
        ),
        "three classes": (
            _fitted_on(
                images, y3, ImageFlattener(), SigmoidNeuronClassifier(max_iter=2)
            ),
            ValueError,
            r"classes_ has shape \(3,\): a model file holds a classifier of "
            "exactly two",
        ),
        "flat input": (
            _fitted_on(flat, y, ImageFlattener(), SigmoidNeuronClassifier(max_iter=2)),
            ValueError,
            r"image_shape_ is \[48\], not a list of two or three integers",
        ),
        "four channels": (
            _fitted_on(
                rng.integers(0, 256, (30, 4, 4, 4)),
                y,
                ImageFlattener(),
                SigmoidNeuronClassifier(max_iter=2),
            ),
            ValueError,
            r"image_shape_ is \(4, 4, 4\): 1 or 3 channels, not 4",
        ),
        "a RandomState": (
            _fitted_on(
                images,
                y,
                ImageFlattener(),
                SigmoidNeuronClassifier(
                    max_iter=2, init="random", random_state=np.random.RandomState(0)
                ),
            ),
            ValueError,
            r"The parameter random_state=RandomState\(MT19937\) at 0x[0-9A-F]+ cannot "
            "be saved in a model file",
        ),
    }
    for name, (model, error, match) in cases.items():
        with pytest.raises(error, match=match):
            save_model(model, tmp_path / "m.cnm")
        assert not list(tmp_path.iterdir()), name

    broken = copy.deepcopy(fitted)
    broken[-1].coef_[0, :3] = [np.nan, np.inf, -np.inf]
    with pytest.raises(ValueError, match="coef_ holds 3 NaN or infinite values"):
        save_model(broken, tmp_path / "m.cnm")
    broken = copy.deepcopy(fitted)
    broken[-1].classes_ = broken[-1].classes_.astype(object)
    with pytest.raises(ValueError, match="classes_ has dtype object"):
        save_model(broken, tmp_path / "m.cnm")
    assert not list(tmp_path.iterdir())


def test_save_never_replaces_unless_forced(tmp_path, fitted, model_bytes):
    path = tmp_path / "m.cnm"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="m.cnm already exists; pass force=True"):
        save_model(fitted, path)
    assert path.read_bytes() == b"keep me"
    save_model(fitted, path, force=True)
    assert path.read_bytes() == model_bytes
    assert os.listdir(tmp_path) == ["m.cnm"]
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name"):
        save_model(fitted, tmp_path)


def test_failed_save_leaves_nothing(tmp_path, fitted, monkeypatch):
    path = tmp_path / "m.cnm"
    path.write_bytes(b"old model")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        save_model(fitted, path, force=True)
    assert os.listdir(tmp_path) == ["m.cnm"]
    assert path.read_bytes() == b"old model"


# -- the attacker's files ---------------------------------------------------------


@pytest.fixture(scope="module")
def payloads(folder, catvnoncat):
    """Skops pipelines that run a shell command that creates ``marker``."""
    skops_io = pytest.importorskip("skops.io")
    from subprocess import check_output

    X_train, y_train, _, _ = catvnoncat
    marker = folder / "code-ran"
    command = f"touch {marker}"
    flattener = ImageFlattener().fit(X_train)
    neuron = SigmoidNeuronClassifier(max_iter=3).fit(
        flattener.transform(X_train), y_train
    )
    fill = FunctionTransformer(
        np.full_like,
        kw_args={"fill_value": command, "shape": (1,), "dtype": "U256"},
        validate=False,
    )
    shell = FunctionTransformer(check_output, kw_args={"shell": True}, validate=False)
    system = FunctionTransformer(os.system, validate=False)
    gadget_attribute = SigmoidNeuronClassifier(max_iter=3).fit(
        flattener.transform(X_train), y_train
    )
    gadget_attribute.gadget_ = make_pipeline(fill, shell)
    pipelines = {
        # The payload: check_output's module rewritten to one that
        # re-exports it, so that prefix trust ("sklearn.") lets it through.
        "issue": (
            make_pipeline(flattener, fill, shell, neuron),
            "sklearn.utils._testing",
        ),
        "subprocess": (make_pipeline(flattener, fill, shell, neuron), None),
        "nested": (
            make_pipeline(flattener, make_pipeline(fill, shell), neuron),
            "sklearn.utils._testing",
        ),
        "attribute": (make_pipeline(flattener, gadget_attribute), None),
        "os.system": (make_pipeline(flattener, fill, system, neuron), "numpy"),
    }
    files = {}
    for name, (pipeline, module) in pipelines.items():
        buffer = io.BytesIO()
        skops_io.dump(pipeline, buffer)
        members = members_of(buffer.getvalue())
        if module is not None:
            members["schema.json"] = re.sub(
                rb'"__module__": "(subprocess|posix)"',
                f'"__module__": "{module}"'.encode(),
                members["schema.json"],
            )
        path = folder / f"{name}.skops"
        path.write_bytes(rezip(members))
        files[name] = path
    return marker, files


def test_the_skops_payload_is_real(payloads, catvnoncat):
    # Loaded as the old `predict` did (trust every type from sklearn, numpy and
    # this package), the file runs its command when classifying.
    skops_io = pytest.importorskip("skops.io")
    marker, files = payloads
    _, _, X_test, _ = catvnoncat
    untrusted = skops_io.get_untrusted_types(file=files["issue"])
    assert "sklearn.utils._testing.check_output" in untrusted
    assert all(
        name.split(".")[0] in ("sklearn", "numpy", "sklearn_catneuron")
        for name in untrusted
        if name != "builtins.object"
    )
    model = skops_io.load(files["issue"], trusted=untrusted)
    with pytest.raises(ValueError):
        model.predict_proba(X_test[:1])
    assert marker.exists()
    marker.unlink()


def test_skops_files_are_refused_without_skops(payloads):
    marker, files = payloads
    code = (
        "import sys\n"
        "from sklearn_catneuron import ModelFileError, load_model\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_model(path)\n"
        "    except ModelFileError as exc:\n"
        "        print(exc)\n"
        "print('skops' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, files.values())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert lines[-1] == "False", result.stderr  # skops never imported
    for path, line in zip(files.values(), lines[:-1], strict=True):
        assert line.startswith(f"{path} {SKOPS}")
    assert not marker.exists()


def pickles(folder):
    marker = folder / "pickle-ran"
    payload = code_running_pickle(marker)
    joblib = pytest.importorskip("joblib")
    files = {"evil.pkl": payload, "evil.cnm": payload}
    joblib.dump(FunctionTransformer(os.system), folder / "evil.joblib")
    files["evil.joblib"] = (folder / "evil.joblib").read_bytes()
    files["object.npy"] = npy(np.array([pickle.loads, os.system], dtype=object))
    return marker, files


def test_foreign_files_are_refused(folder, model_bytes):
    marker, files = pickles(folder)
    members = members_of(model_bytes)
    files["other-zip.cnm"] = rezip({"notes.txt": b"hello"})
    files["text.cnm"] = b"not a model"
    files["empty.cnm"] = b""
    files["npy-in-zip.cnm"] = rezip(
        {**members, "coef.npy": npy(np.array([os.system], dtype=object))}
    )
    expected = {
        "evil.pkl": NOT_A_MODEL.format(
            r"it is not a zip archive; it starts with b'\\x80.*"
        ),
        "evil.cnm": NOT_A_MODEL.format("it is not a zip archive.*"),
        "evil.joblib": NOT_A_MODEL.format("it is not a zip archive.*"),
        "object.npy": NOT_A_MODEL.format("it is a bare .npy array"),
        "other-zip.cnm": NOT_A_MODEL.format(
            "a zip archive without model.json: 'notes.txt'"
        ),
        "text.cnm": NOT_A_MODEL.format(
            "it is not a zip archive; it starts with b'not.*"
        ),
        "empty.cnm": NOT_A_MODEL.format("it is empty"),
        "npy-in-zip.cnm": DAMAGED.format(
            r"coef.npy holds an array of dtype 'object' and shape \(1,\); model.json "
            r"says <f8 and \(1, 12288\)"
        ),
    }
    for name, data in files.items():
        with pytest.raises(ModelFileError, match=expected[name]):
            load_bytes(data, folder, name)
    assert not marker.exists()


def _doc(factory):
    """A factory of changes to model.json as a factory of changes to the bytes."""

    def make(*args):
        change = factory(*args)
        return lambda data: with_document(data, change)

    return make


@_doc
def _set_step(index, key, value):
    def change(document):
        document["steps"][index][key] = value

    return change


@_doc
def _set_param(index, key, value):
    def change(document):
        document["steps"][index]["params"][key] = value

    return change


@_doc
def _set(key, value):
    def change(document):
        document[key] = value

    return change


@_doc
def _set_array(name, key, value):
    def change(document):
        document["arrays"][name][key] = value

    return change


@_doc
def _replace_steps(steps):
    def change(document):
        document["steps"] = steps(document["steps"])

    return change


def _function_transformer_step(steps):
    gadget = {
        "name": "gadget",
        "class": "FunctionTransformer",
        "params": {"func": "subprocess.check_output"},
    }
    return [steps[0], gadget, steps[1]]


# name: (how the valid file is changed, the message)
TAMPERED = {
    # model.json: structure and types.
    "format": (_set("format", "skops"), "format is 'skops'"),
    "newer format": (_set("format_version", 2), "format version 2, this"),
    "version as text": (_set("format_version", "1"), "format_version is '1'"),
    "extra key": (
        _set("code", "import os"),
        r"model.json has keys 'code' not expected",
    ),
    "other class": (
        _set_step(1, "class", "LogisticRegression"),
        "step 1 is 'LogisticRegression'; a model holds only ImageFlattener then",
    ),
    "dotted class": (
        _set_step(0, "class", "sklearn_catneuron.ImageFlattener"),
        "step 0 is 'sklearn_catneuron.ImageFlattener'",
    ),
    "function step": (
        _replace_steps(_function_transformer_step),
        "steps is .*not a list of two steps",
    ),
    "steps swapped": (_replace_steps(lambda s: s[::-1]), "step 0 is 'SigmoidNeuron"),
    "nested pipeline": (
        _replace_steps(lambda s: [s[0], {"class": "Pipeline", "steps": s}]),
        "step 1 is 'Pipeline'",
    ),
    "function as a parameter": (
        _set_param(1, "solver", {"py/function": "os.system"}),
        "SigmoidNeuronClassifier.solver has keys 'py/function' not expected",
    ),
    "unknown parameter": (
        _set_param(0, "func", "os.system"),
        "ImageFlattener has no parameter 'func'",
    ),
    "parameter out of range": (
        _set_param(1, "learning_rate", -1.0),
        "The 'learning_rate' parameter of SigmoidNeuronClassifier must be a float",
    ),
    "parameter of wrong type": (
        _set_param(1, "max_iter", 2000.5),
        "The 'max_iter' parameter",
    ),
    "bool for a number": (
        _set_param(0, "max_value", True),
        "ImageFlattener.max_value is True, not a number",
    ),
    "list parameter": (_set_param(1, "tol", [1, 2]), "tol is \\[1, 2\\], not a plain"),
    "bad step name": (_set_step(0, "name", "a__b"), "step 0 has the name 'a__b'"),
    "same step names": (_set_step(1, "name", "imageflattener"), "the same name"),
    # image_shape_.
    "image shape null": (
        _set_step(0, "image_shape_", None),
        "image_shape_ is None, not a list of two or three integers",
    ),
    "image shape strings": (
        _set_step(0, "image_shape_", ["64", "64", "3"]),
        r"image_shape_ is \['64', '64', '3'\]",
    ),
    "image shape floats": (
        _set_step(0, "image_shape_", [64.0, 64.0, 3.0]),
        r"image_shape_ is \[64.0, 64.0, 3.0\]",
    ),
    "image shape negative": (
        _set_step(0, "image_shape_", [-64, -64, 3]),
        r"image_shape_ is \(-64, -64, 3\): height and width must be 1 to 4096",
    ),
    "image shape zero": (_set_step(0, "image_shape_", [0, 64, 3]), "must be 1 to"),
    "image shape huge": (
        _set_step(0, "image_shape_", [20000, 20000, 3]),
        r"image_shape_ is \(20000, 20000, 3\): height and width must be 1 to 4096",
    ),
    "image shape over the bound": (
        _set_step(0, "image_shape_", [4096, 4096, 3]),
        f"more than {MAX_FEATURES} pixel values",
    ),
    "image shape 4-D": (_set_step(0, "image_shape_", [2, 64, 32, 3]), "two or three"),
    "image shape bool": (_set_step(0, "image_shape_", [64, 64, True]), "two or three"),
    "image shape big int": (
        _set_step(0, "image_shape_", [10**30, 1, 3]),
        "holds an integer of 31 digits",
    ),
    "image shape and width disagree": (
        _set_step(0, "image_shape_", [32, 32, 3]),
        r"ImageFlattener.n_features_in_=12288 does not match "
        r"image_shape_=\(32, 32, 3\)",
    ),
    "n_features_in_": (
        _set_step(1, "n_features_in_", 5),
        "SigmoidNeuronClassifier.n_features_in_=5 does not match",
    ),
    "n_iter_ negative": (_set_step(1, "n_iter_", -1), "n_iter_ is -1, not a count"),
    # Array declarations.
    "declared object dtype": (
        _set_array("coef_", "dtype", "|O"),
        "arrays.coef_ has the dtype '|O'",
    ),
    "declared huge coef": (
        _set_array("coef_", "shape", [1, 10**12]),
        r"coef_ has shape \(1, 1000000000000\), expected \(1, 12288\)",
    ),
    "declared huge loss curve": (
        _set_array("loss_curve_", "shape", [2**27]),
        "loss_curve_ has 134217728 values, over 16777216",
    ),
    # Arrays.
    "non-finite coef": (
        lambda d: with_array(d, "coef_", np.full((1, 12288), np.nan)),
        "coef_ holds 12288 NaN or infinite values",
    ),
    "infinite intercept": (
        lambda d: with_array(d, "intercept_", np.array([np.inf])),
        "intercept_ holds 1 NaN or infinite values",
    ),
    "coef too narrow": (
        lambda d: with_array(d, "coef_", np.zeros((1, 100))),
        r"coef_ has shape \(1, 100\), expected \(1, 12288\)",
    ),
    "coef too narrow, undeclared": (
        lambda d: with_array(d, "coef_", np.zeros((1, 100)), declare=False),
        r"coef.npy holds an array of dtype 'float64' and shape \(1, 100\)",
    ),
    "coef of ints": (
        lambda d: with_array(d, "coef_", np.zeros((1, 12288), np.int64)),
        "arrays.coef_ has the dtype '<i8'",
    ),
    "one class": (
        lambda d: with_array(d, "classes_", np.array([1])),
        r"classes_ has shape \(1,\): a model file holds a classifier of exactly two",
    ),
    "three classes": (
        lambda d: with_array(d, "classes_", np.array([0, 1, 2])),
        r"classes_ has shape \(3,\)",
    ),
    "classes unsorted": (
        lambda d: with_array(d, "classes_", np.array([1, 0])),
        r"classes_ is \[1, 0\]: two different labels, sorted, expected",
    ),
    "classes NaN": (
        lambda d: with_array(d, "classes_", np.array([0.0, np.nan])),
        "classes_ holds NaN or infinite labels",
    ),
    "classes of objects": (
        lambda d: with_array(d, "classes_", np.array([0, os.system], dtype=object)),
        "arrays.classes_ has the dtype '|O'",
    ),
    "classes long strings": (
        lambda d: with_array(d, "classes_", np.array(["a", "b" * 300])),
        "arrays.classes_ has the dtype '<U300'",
    ),
    "big-endian coef": (
        lambda d: with_array(d, "coef_", np.zeros((1, 12288), ">f8")),
        "arrays.coef_ has the dtype '>f8'",
    ),
    "fortran order": (
        lambda d: with_member(d, "coef.npy", _fortran_npy((1, 12288))),
        "coef.npy does not hold exactly its 98304 bytes",
    ),
}


@pytest.mark.parametrize("case", TAMPERED.values(), ids=TAMPERED)
def test_tampered_fields_are_clear_errors(folder, model_bytes, case):
    change, match = case
    with pytest.raises(ModelFileError, match=DAMAGED.format(f".*{match}.*")):
        load_bytes(change(model_bytes), folder)


def test_tampered_json_text(folder, model_bytes):
    members = members_of(model_bytes)
    text = members["model.json"].decode()
    cases = {
        "NaN": (text.replace('"alpha": 0.0', '"alpha": NaN'), "holds NaN, which is"),
        "1e999": (text.replace('"alpha": 0.0', '"alpha": 1e999'), "1e999, out of"),
        "duplicate key": (
            text.replace('"alpha": 0.0', '"alpha": 0.0, "alpha": 1.0'),
            "a key appears twice",
        ),
        "deep nesting": ("[" * 30_000 + "]" * 30_000, "not valid JSON"),
        "too long": ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        "not UTF-8": (b"\xff\xfe{}", "not valid JSON"),
        "truncated": (text[:100], "not valid JSON"),
        "a list": ("[1, 2]", "model.json is \\[1, 2\\], not an object"),
        "dtype as a list": (
            text.replace('"dtype": "<f8"', '"dtype": ["<f8"]', 1),
            r"arrays.coef_.dtype is \['<f8'\], not a string",
        ),
    }
    for name, (json_text, match) in cases.items():
        raw = json_text if isinstance(json_text, bytes) else json_text.encode()
        if len(raw) > 64 * 1024:
            match = "model.json declares 200000 bytes, more than the 65536"
        data = rezip({**members, "model.json": raw})
        with pytest.raises(ModelFileError, match=DAMAGED.format(f".*{match}.*")):
            load_bytes(data, folder, name)


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_archive_structure_is_checked(folder, model_bytes):
    members = members_of(model_bytes)
    listed = list(members.items())
    cases = {
        "extra member": (rezip({**members, "run.py": b"import os"}), "'run.py' not"),
        "missing member": (
            rezip({k: v for k, v in members.items() if k != "coef.npy"}),
            "none not expected, coef.npy missing",
        ),
        "duplicate member": (
            rezip([*listed, ("coef.npy", members["coef.npy"])]),
            "members named twice: 'coef.npy'",
        ),
        "path traversal": (
            rezip({**members, "../../etc/cron.d/x": b"* * * * * root id"}),
            r"'../../etc/cron.d/x' not expected",
        ),
        "absolute path": (
            rezip([*listed[:2], ("/tmp/coef.npy", members["coef.npy"]), *listed[3:]]),
            "'/tmp/coef.npy' not expected, coef.npy missing",
        ),
        "deflated": (
            rezip(members, compression=zipfile.ZIP_DEFLATED),
            "model.json is compressed or encrypted",
        ),
    }
    for name, (data, match) in cases.items():
        with pytest.raises(ModelFileError, match=DAMAGED.format(f".*{match}.*")):
            load_bytes(data, folder, name)

    # Bytes around the archive, or a zip64 end record: not our zip.
    with pytest.raises(ModelFileError, match="the zip directory is not where"):
        load_bytes(b"PK\x03\x04" + model_bytes, folder)
    with pytest.raises(ModelFileError, match="bytes after the zip directory"):
        load_bytes(model_bytes + b"trailing", folder)


def _raw_zip(members, bomb_name, compressed, crc, size):
    """A zip of stored ``members`` plus one deflated member given raw."""
    out, central = io.BytesIO(), []
    for name, data in members.items():
        offset = out.tell()
        encoded = name.encode()
        if name == bomb_name:
            method, body, body_crc, body_size = 8, compressed, crc, size
        else:
            method, body, body_crc, body_size = 0, data, zlib.crc32(data), len(data)
        out.write(
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                20,
                0,
                method,
                0,
                33,
                body_crc,
                len(body),
                body_size,
                len(encoded),
                0,
            )
            + encoded
            + body
        )
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                33,
                body_crc,
                len(body),
                body_size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(
        struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            0,
            0,
            len(central),
            len(central),
            len(directory),
            start,
            0,
        )
    )
    return out.getvalue()


def test_archive_bombs_are_refused_without_allocating(folder, model_bytes):
    members = members_of(model_bytes)
    gigabyte = 10**9
    bomb = _raw_zip(members, "coef.npy", *_deflated_zeros_npy(gigabyte))
    assert len(bomb) < 10**6  # under 1 MB on disk, 1 GB once expanded
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        assert archive.getinfo("coef.npy").file_size == 10**9 + 128
        with archive.open("coef.npy") as f:  # a real bomb: it does expand
            assert f.read(2**20)[128:] == bytes(2**20 - 128)
    # The same bytes declared as stored (sizes that lie), and an .npy whose
    # header declares 1 GB of data behind a file of normal size.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (1, gigabyte // 8)}
    )
    big_header = rezip({**members, "coef.npy": header.getvalue() + bytes(98304)})
    cases = {
        "deflate bomb": (bomb, "coef.npy is compressed or encrypted"),
        "huge .npy header": (
            big_header,
            r"coef.npy holds an array of dtype 'float64' and shape \(1, 125000000\)",
        ),
        "declared huge in model.json": (
            _set_array("coef_", "shape", [1, gigabyte // 8])(model_bytes),
            r"coef_ has shape \(1, 125000000\), expected \(1, 12288\)",
        ),
    }
    for name, (data, match) in cases.items():
        path = folder / f"{name}.cnm"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            with pytest.raises(ModelFileError, match=match):
                load_model(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * len(data) + 2**20, (name, peak)  # never the gigabyte


def _deflated_zeros_npy(size):
    """(compressed, crc, size) of an .npy of ``size`` zero bytes of float64.

    Deflate segments that end in a full flush do not depend on what came
    before, so one segment of 4 MB of zeros is compressed once and repeated.
    """
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (1, size // 8)}
    )

    def segment(data, final=False):
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        end = zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH
        return compressor.compress(data) + compressor.flush(end)

    zeros = bytes(2**22)
    count, rest = divmod(size, len(zeros))
    crc = zlib.crc32(header.getvalue())
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(zeros[:rest], crc)
    compressed = segment(header.getvalue()) + segment(zeros) * count
    compressed += segment(zeros[:rest], final=True)
    return compressed, crc, len(header.getvalue()) + size


def test_many_members_are_refused_before_listing(folder):
    data = rezip({f"{i}.npy": b"" for i in range(5000)})
    with pytest.raises(ModelFileError, match="a zip archive of 5000 members"):
        load_bytes(data, folder)


def test_truncated_files(folder, model_bytes):
    for size in [0, 1, 4, 30, 100, 1000, len(model_bytes) // 2] + [
        len(model_bytes) - k for k in (1, 10, 22, 23, 100, 400)
    ]:
        with pytest.raises(ModelFileError, match="is not a model file|damaged"):
            load_bytes(model_bytes[:size], folder)


def test_flipped_bytes_end_in_the_documented_error(folder, model_bytes, catvnoncat):
    # Every damage either is refused as a ModelFileError or leaves a file that
    # still passes every check (a flip in a date field, say): never another
    # exception, never a model that cannot classify.
    _, _, X_test, _ = catvnoncat
    rng = np.random.default_rng(10)
    path = folder / "fuzzed.cnm"
    accepted = 0
    # Where the bytes that matter are: the whole file, weighted to the JSON,
    # the headers and the directory (the arrays are covered by the CRC).
    hot = [(0, 1200), (len(model_bytes) - 400, len(model_bytes)), (0, len(model_bytes))]
    for run in range(1500):
        data = bytearray(model_bytes)
        low, high = hot[run % len(hot)]
        for _ in range(rng.integers(1, 9)):
            data[rng.integers(low, high)] = rng.integers(256)
        path.write_bytes(bytes(data))
        try:
            model = load_model(path)
        except ModelFileError:
            continue
        accepted += 1
        proba = model.predict_proba(X_test[:2])
        assert np.all(np.isfinite(proba))
    assert accepted < 1500 // 2


def test_random_bytes_are_refused(folder):
    rng = np.random.default_rng(11)
    for run in range(200):
        data = rng.bytes(int(rng.integers(0, 5000)))
        if run % 2:
            data = b"PK\x03\x04" + data + b"PK\x05\x06" + rng.bytes(18)
        with pytest.raises(ModelFileError):
            load_bytes(data, folder)


# -- files that are not regular files ------------------------------------------


def test_not_regular_files_in_process(folder):
    with pytest.raises(ModelFileError, match=f"^{folder} is a folder, not a model"):
        load_model(folder)
    with pytest.raises(
        ModelFileError, match="^/dev/zero is a character device, not a model file"
    ):
        load_model("/dev/zero")
    with pytest.raises(
        ModelFileError, match="^model file absent.cnm not found; write one with"
    ):
        load_model("absent.cnm")
    with pytest.raises(ModelFileError, match="cannot read the model file .*null"):
        load_model("bad\0name.cnm")
    loop = folder / "loop.cnm"
    loop.symlink_to(loop)
    with pytest.raises(ModelFileError, match="Too many levels of symbolic links"):
        load_model(loop)
    with pytest.raises(ModelFileError, match="more than a model file can be"):
        sparse = folder / "sparse.cnm"
        with open(sparse, "wb") as f:
            f.truncate(2**40)  # 1 TB declared, nothing on disk
        load_model(sparse)


# -- the command line, in real processes -----------------------------------------


def _predict(model, cwd, picture, *, user=None):
    argv = [sys.executable, "-m", "sklearn_catneuron", "predict", "--model"]
    argv += [str(model), str(picture)]
    env = {k: v for k, v in os.environ.items() if k != "CATNEURON_DATA_URL"}
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        user=user,
    )


def _assert_one_line(process, match):
    out, err = process.communicate(timeout=300)  # a FIFO would block forever
    assert process.returncode == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert re.search(match, err), err


@pytest.fixture(scope="module")
def picture(folder, catvnoncat):
    _, _, X_test, _ = catvnoncat
    path = folder / "cat.png"
    Image.fromarray(X_test[0]).save(path)
    return path


def test_cli_refuses_the_attackers_files(folder, payloads, picture, model_bytes):
    marker, files = payloads
    pickle_marker, foreign = pickles(folder)
    for name, data in foreign.items():
        (folder / name).write_bytes(data)
    tampered = {
        "shape-none.cnm": _set_step(0, "image_shape_", None),
        "shape-huge.cnm": _set_step(0, "image_shape_", [20000, 20000, 3]),
        "other-class.cnm": _set_step(1, "class", "FunctionTransformer"),
    }
    for name, change in tampered.items():
        (folder / name).write_bytes(change(model_bytes))
    fifo = folder / "model.fifo"
    os.mkfifo(fifo)
    cases = [
        (path, f"^catneuron predict: error: {path} {SKOPS}") for path in files.values()
    ]
    cases += [
        (folder / "evil.pkl", "evil.pkl is not a model file written by 'catneuron"),
        (folder / "evil.joblib", "evil.joblib is not a model file"),
        (folder / "object.npy", r"object.npy is not a model file .*bare .npy array"),
        (folder / "shape-none.cnm", "image_shape_ is None, not a list of two or"),
        (folder / "shape-huge.cnm", r"image_shape_ is \(20000, 20000, 3\)"),
        (folder / "other-class.cnm", "step 1 is 'FunctionTransformer'"),
        (fifo, f"^catneuron predict: error: {fifo} is a named pipe \\(FIFO\\), not a"),
        (
            "/dev/zero",
            "^catneuron predict: error: /dev/zero is a character device, not",
        ),
        (folder, f"^catneuron predict: error: {folder} is a folder, not a model file"),
    ]
    processes = [(_predict(path, folder, picture), match) for path, match in cases]
    for process, match in processes:
        _assert_one_line(process, match)
    assert not marker.exists()
    assert not pickle_marker.exists()


# Write-only kernel attributes: regular files that even root cannot open to read.
WRITE_ONLY = ["/sys/bus/pci/rescan", "/sys/class/zram-control/hot_remove"]


def test_cli_refuses_an_unreadable_model(tmp_path, model_bytes, picture):
    if os.geteuid() != 0:
        path = tmp_path / "locked.cnm"
        path.write_bytes(model_bytes)
        path.chmod(0)
    else:  # root reads any file whatever its mode
        found = [p for p in WRITE_ONLY if os.path.isfile(p)]
        if not found:
            pytest.skip(
                "running as root, and no write-only file (which even root cannot "
                f"read) among {WRITE_ONLY}: no file is unreadable here"
            )
        path = found[0]
    _assert_one_line(
        _predict(path, tmp_path, picture),
        f"^catneuron predict: error: cannot read the model file {path} "
        r"\(Permission denied\); check its permissions, or give a model file you "
        "can read$",
    )
    with pytest.raises(ModelFileError, match="Permission denied"):
        load_model(path)


def test_cli_old_skops_model_says_retrain(folder, fitted, picture):
    skops_io = pytest.importorskip("skops.io")
    old = folder / "catneuron-model.skops"
    skops_io.dump(fitted, old)  # what today's `catneuron train` writes
    _assert_one_line(
        _predict(old.name, folder, picture),
        f"^catneuron predict: error: catneuron-model.skops {SKOPS} \\(or save it "
        r"with sklearn_catneuron.save_model\)$",
    )


def test_cli_train_refuses_a_model_over_the_bounds(
    tmp_path, catvnoncat_dir, monkeypatch, capsys
):
    from sklearn_catneuron import _model_file
    from sklearn_catneuron.cli import main

    monkeypatch.setattr(_model_file, "MAX_LOSS_CURVE", 10)  # a cost curve of 20
    args = ["train", "--data-home", str(catvnoncat_dir), "--max-iter", "20"]
    args += ["--model", str(tmp_path / "m.cnm"), "--plot", str(tmp_path / "c.png")]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "catneuron train: error: cannot save the model: The pipeline cannot be "
        "saved in a model file: loss_curve_ has 20 values, over 10.\n"
    )
    assert list(tmp_path.iterdir()) == []
