"""scikit-learn's callbacks (sklearn.callback) on the neuron's descent."""

import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_catneuron import SigmoidNeuronClassifier, SigmoidNeuronClassifierCV
from sklearn_catneuron._engine import _GramPath


@pytest.fixture
def data(rng):
    X = rng.normal(size=(40, 60))  # fewer samples than features: Gram path
    y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(int)
    return X, y


class Recorder:
    """Records the hooks it sees; stops the descent after ``stop_at`` steps."""

    def __init__(self, stop_at=None, ask_estimator=False):
        self.stop_at, self.ask_estimator = stop_at, ask_estimator
        self.begins, self.ends, self.steps, self.teardowns = [], [], 0, 0
        self.fitted = []

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        self.begins.append(context.task_name)

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.ends.append(context.task_name)
        if context.task_name != "gradient step":
            return False
        self.steps += 1
        if self.ask_estimator:
            self.fitted.append(fitted_estimator)
        return self.steps == self.stop_at

    def teardown(self, estimator, context):
        self.teardowns += 1


def test_each_step_is_a_subtask(data):
    X, y = data
    recorder = Recorder()
    SigmoidNeuronClassifier(max_iter=12).set_callbacks(recorder).fit(X, y)
    assert recorder.begins == ["fit"] + ["gradient step"] * 12
    assert recorder.ends == ["gradient step"] * 12 + ["fit"]
    assert recorder.teardowns == 1


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_a_callback_returning_true_stops_at_that_step(data, solver):
    X, y = data
    stopped = SigmoidNeuronClassifier(max_iter=500, solver=solver, learning_rate=0.1)
    stopped.set_callbacks(Recorder(stop_at=17)).fit(X, y)
    exact = SigmoidNeuronClassifier(max_iter=17, solver=solver, learning_rate=0.1)
    exact.fit(X, y)
    assert stopped.n_iter_ == 17
    assert_array_equal(stopped.coef_, exact.coef_)
    assert_array_equal(stopped.intercept_, exact.intercept_)
    assert_array_equal(stopped.loss_curve_, exact.loss_curve_)


def test_fitted_estimator_is_the_fit_stopped_at_that_step(data):
    X, y = data
    recorder = Recorder(ask_estimator=True)
    SigmoidNeuronClassifier(max_iter=6, learning_rate=0.1).set_callbacks(recorder).fit(
        X, y
    )
    for k, fitted in enumerate(recorder.fitted, start=1):
        exact = SigmoidNeuronClassifier(max_iter=k, learning_rate=0.1).fit(X, y)
        assert fitted.n_iter_ == k
        assert_allclose(fitted.coef_, exact.coef_, rtol=1e-12, atol=1e-15)
        assert_array_equal(fitted.loss_curve_, exact.loss_curve_)
        assert_array_equal(fitted.predict_proba(X), exact.predict_proba(X))


def test_coef_is_formed_only_when_a_callback_asks(data, monkeypatch):
    X, y = data
    calls = []
    original = _GramPath.result

    def counted(self, columns=None):
        calls.append(1)
        return original(self, columns)

    class Counter:  # asks for no fitted_estimator
        def setup(self, estimator, context):
            pass

        def on_fit_task_begin(self, estimator, context):
            pass

        def on_fit_task_end(self, estimator, context):
            pass

        def teardown(self, estimator, context):
            pass

    monkeypatch.setattr(_GramPath, "result", counted)
    model = SigmoidNeuronClassifier(max_iter=30, solver="gram")
    model.set_callbacks(Counter()).fit(X, y)
    assert len(calls) == 1  # the end of the fit
    calls.clear()
    model.set_callbacks(Recorder(ask_estimator=True)).fit(X, y)
    assert len(calls) == 31


def test_scoring_monitor_logs_one_score_per_step(data):
    X, y = data
    monitor = ScoringMonitor(scoring="neg_log_loss")
    SigmoidNeuronClassifier(max_iter=8, learning_rate=0.1).set_callbacks(monitor).fit(
        X, y
    )
    rows = monitor.get_logs().data
    steps = [row for row in rows if row["task_name"] == "gradient step"]
    assert len(steps) == 8 and len(rows) == 9  # and the whole fit
    assert [row["task_id"] for row in steps] == list(range(8))
    for k, row in enumerate(steps, start=1):
        exact = SigmoidNeuronClassifier(max_iter=k, learning_rate=0.1).fit(X, y)
        expected = -log_loss(y, exact.predict_proba(X))
        assert_allclose(row["neg_log_loss"], expected, rtol=1e-12)


def test_progress_bar_alone_in_a_pipeline_and_in_grid_search(data, capsys):
    X, y = data
    SigmoidNeuronClassifier(max_iter=20).set_callbacks(ProgressBar()).fit(X, y)
    pipe = make_pipeline(StandardScaler(), SigmoidNeuronClassifier(max_iter=20))
    pipe.set_callbacks(ProgressBar()).fit(X, y)
    search = GridSearchCV(
        SigmoidNeuronClassifier(max_iter=20), {"learning_rate": [0.01, 0.1]}, cv=2
    )
    search.set_callbacks(ProgressBar()).fit(X, y)
    assert search.best_estimator_.n_iter_ == 20
    assert "SigmoidNeuronClassifier" in capsys.readouterr().out


def test_cv_estimator_runs_callbacks_on_its_refit(data):
    X, y = data
    recorder = Recorder(ask_estimator=True)
    model = SigmoidNeuronClassifierCV(learning_rates=[0.01, 0.1], cv=2, max_iter=9)
    model.set_callbacks(recorder).fit(X, y)
    assert recorder.begins[:2] == ["fit", "cross-validation"]
    assert recorder.begins.count("gradient step") == 9
    assert recorder.ends[-1] == "fit"
    assert recorder.fitted[-1].n_iter_ == 9
    assert_array_equal(recorder.fitted[-1].coef_, model.coef_)
    model.set_callbacks(ProgressBar()).fit(X, y)
