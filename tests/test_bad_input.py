"""Bad input, one table per public entry point: each row ends in a clear error."""

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from sklearn.exceptions import NotFittedError

from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier

RNG = np.random.default_rng(0)
X_OK = RNG.random((6, 3))
Y_OK = np.array([0, 1] * 3)
IMAGES_OK = RNG.integers(0, 256, size=(4, 2, 2, 3), dtype=np.uint8)


def _with(value, index=(0, 0), X=X_OK):
    X = X.astype(float)
    X[index] = value
    return X


# (id, X, y, fit kwargs, exception, message fragment)
NEURON_FIT = [
    ("X NaN", _with(np.nan), Y_OK, {}, ValueError, "Input X contains NaN"),
    ("X inf", _with(np.inf), Y_OK, {}, ValueError, "Input X contains infinity"),
    ("X strings", np.full((6, 3), "a"), Y_OK, {}, ValueError, "could not convert"),
    ("X object", np.array([[1, "a", None]] * 6, dtype=object), Y_OK, {},
     ValueError, "could not convert"),
    ("X ragged", [[1.0, 2.0], [3.0]], [0, 1], {}, ValueError, "inhomogeneous"),
    ("X zero samples", np.zeros((0, 3)), [], {}, ValueError, "0 sample"),
    ("X zero features", np.zeros((6, 0)), Y_OK, {}, ValueError, "0 feature"),
    ("X 1-D", np.zeros(6), Y_OK, {}, ValueError, "Expected 2D array"),
    ("X 5-D", np.zeros((6, 2, 2, 2, 2)), Y_OK, {}, ValueError, "dim 5"),
    ("X complex", X_OK + 1j, Y_OK, {}, ValueError, "Complex data not supported"),
    ("X sparse", csr_matrix(X_OK), Y_OK, {},
     TypeError, "dense data is required"),
    ("y one class", X_OK, np.ones(6), {}, ValueError, "only one class"),
    ("y continuous", X_OK, np.linspace(0, 1, 6), {}, ValueError,
     "Unknown label type: continuous"),
    ("y NaN", X_OK, np.array([0, 1, np.nan, 0, 1, 0]), {}, ValueError,
     "Input y contains NaN"),
    ("y 2-D", X_OK, np.c_[Y_OK, Y_OK], {}, ValueError, "y should be a 1d array"),
    ("y length", X_OK, Y_OK[:4], {}, ValueError, "inconsistent numbers of samples"),
    ("sample_weight negative", X_OK, Y_OK, {"sample_weight": [-1, 1, 1, 1, 1, 1]},
     ValueError, "Negative values in data passed to `sample_weight`"),
    ("sample_weight NaN", X_OK, Y_OK, {"sample_weight": [np.nan, 1, 1, 1, 1, 1]},
     ValueError, "sample_weight contains NaN"),
    ("sample_weight length", X_OK, Y_OK, {"sample_weight": [1.0, 2.0]},
     ValueError, r"sample_weight.shape == \(2,\), expected \(6,\)"),
    ("sample_weight all zero", X_OK, Y_OK, {"sample_weight": np.zeros(6)},
     ValueError, "non-zero"),
]  # fmt: skip

NEURON_PARAMS = [
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"learning_rate": np.nan}, "learning_rate"),
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"tol": -1e-4}, "tol"),
    ({"alpha": -1.0}, "alpha"),
    ({"alpha": np.nan}, "alpha"),
    ({"fit_intercept": "yes"}, "fit_intercept"),
    ({"init": "ones"}, "init"),
    ({"random_state": "seed"}, "random_state"),
    ({"class_weight": "auto"}, "class_weight"),
    ({"class_weight": [1, 2]}, "class_weight"),
    ({"class_weight": {0: 1.0, 7: 2.0}}, "not in class"),
    ({"warm_start": "no"}, "warm_start"),
    ({"verbose": -1}, "verbose"),
]

FLATTENER = [
    ("X NaN", _with(np.nan, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 NaN"),
    ("X inf", _with(-np.inf, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 infinite"),
    ("X below 0", _with(-1, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 values below 0"),
    ("X above max", _with(300, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 above max"),
    ("X strings", np.full((2, 2, 2), "a"), ValueError, "strings"),
    ("X object", np.array([[[1, "a"]]], dtype=object), ValueError, "could not convert"),
    ("X ragged", [[[1, 2], [3]]], ValueError, "inhomogeneous"),
    ("X zero samples", np.zeros((0, 2, 2)), ValueError, "0 sample"),
    ("X zero features", np.zeros((3, 0, 0)), ValueError, "0 feature"),
    ("X 1-D", np.zeros(6), ValueError, "Expected 2D array"),
    ("X 5-D", np.zeros((2, 2, 2, 2, 2)), ValueError, "5 dimensions"),
    ("X complex", np.zeros((2, 2, 2), dtype=complex), ValueError, "Complex data"),
    ("X bool", np.zeros((2, 2, 2), dtype=bool), TypeError, "real pixel values"),
]  # fmt: skip

FLATTENER_PARAMS = [
    ({"max_value": 0}, "max_value"),
    ({"max_value": -255.0}, "max_value"),
    ({"max_value": "255"}, "max_value"),
]


@pytest.mark.parametrize(
    "X, y, kwargs, error, match",
    [row[1:] for row in NEURON_FIT],
    ids=[row[0] for row in NEURON_FIT],
)
def test_neuron_fit_bad_input(X, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        SigmoidNeuronClassifier(max_iter=2).fit(X, y, **kwargs)


@pytest.mark.parametrize("params, match", NEURON_PARAMS, ids=str)
def test_neuron_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SigmoidNeuronClassifier(**{"max_iter": 2, **params}).fit(X_OK, Y_OK)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_neuron_predict_bad_input(method):
    clf = SigmoidNeuronClassifier(max_iter=2)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(clf, method)(X_OK)
    clf.fit(X_OK, Y_OK)
    predict = getattr(clf, method)
    with pytest.raises(ValueError, match="X has 2 features.*expecting 3"):
        predict(X_OK[:, :2])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        predict(_with(np.nan))
    with pytest.raises(ValueError, match="Expected 2D array"):
        predict(X_OK[0])


@pytest.mark.parametrize(
    "X, error, match", [row[1:] for row in FLATTENER], ids=[row[0] for row in FLATTENER]
)
def test_flattener_bad_input(X, error, match):
    with pytest.raises(error, match=match):
        ImageFlattener().fit(X)


@pytest.mark.parametrize("params, match", FLATTENER_PARAMS, ids=str)
def test_flattener_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        ImageFlattener(**params).fit(IMAGES_OK)


def test_flattener_transform_bad_input():
    flattener = ImageFlattener()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        flattener.transform(IMAGES_OK)
    flattener.fit(IMAGES_OK)
    with pytest.raises(ValueError, match=r"Image shape \(3, 2, 2\) does not match"):
        flattener.transform(IMAGES_OK.reshape(4, 3, 2, 2))
    with pytest.raises(ValueError, match="X has 11 features.*expecting 12"):
        flattener.transform(IMAGES_OK.reshape(4, -1)[:, :11])
    with pytest.raises(ValueError, match="1 above max_value"):
        flattener.transform(_with(256, (1, 1, 1, 1), IMAGES_OK))
