"""sklearn-catneuron: the "neural network from scratch" cat classifier, made real.

A single sigmoid neuron trained by full-batch gradient descent, as a
scikit-learn classifier, and the image flattening step that feeds it.
"""

from sklearn_catneuron._neuron import SigmoidNeuronClassifier
from sklearn_catneuron._neuron_cv import SigmoidNeuronClassifierCV
from sklearn_catneuron._plotting import CostCurveDisplay, plot_image_grid
from sklearn_catneuron._preprocessing import ImageFlattener

__version__ = "0.1.0"

__all__ = [
    "CostCurveDisplay",
    "ImageFlattener",
    "SigmoidNeuronClassifier",
    "SigmoidNeuronClassifierCV",
    "__version__",
    "plot_image_grid",
]
