"""sklearn-catneuron: the "neural network from scratch" cat classifier, made real.

A single sigmoid neuron trained by full-batch gradient descent, as a
scikit-learn classifier, the image flattening step that feeds it, and model
files that hold the fitted pipeline without being able to run code.
"""

from sklearn_catneuron._model_file import ModelFileError, load_model, save_model
from sklearn_catneuron._neuron import SigmoidNeuronClassifier
from sklearn_catneuron._neuron_cv import SigmoidNeuronClassifierCV
from sklearn_catneuron._plotting import CostCurveDisplay, plot_image_grid
from sklearn_catneuron._preprocessing import ImageFlattener

__version__ = "0.1.0"

__all__ = [
    "CostCurveDisplay",
    "ImageFlattener",
    "ModelFileError",
    "SigmoidNeuronClassifier",
    "SigmoidNeuronClassifierCV",
    "__version__",
    "load_model",
    "plot_image_grid",
    "save_model",
]
