"""Every scikit-learn estimator check, on every public estimator."""

import os

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
)


def test_array_api_checks_are_enabled():
    # Without it sklearn skips check_array_api_input.
    assert os.environ.get("SCIPY_ARRAY_API") == "1"


@parametrize_with_checks(
    [ImageFlattener(), SigmoidNeuronClassifier(), SigmoidNeuronClassifierCV()]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
