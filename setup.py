"""Packaging for sklearn-patchdesc."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "sklearn_patchdesc" / "__init__.py").read_text()
).group(1)

EXTRAS = {
    "plot": ["matplotlib>=3.7"],
    "tpe": ["optuna>=3.4"],
    "dask": ["dask[distributed]>=2023.1"],
    "postgres": ["psycopg2-binary>=2.9"],
    # everything `make -C docs html` / `html-quick` needs, gallery examples included
    # (tests/test_docs.py checks it against the examples' imports)
    "docs": [
        "sphinx>=7",
        "sphinx-gallery>=0.15",
        "numpydoc>=1.6",
        "pydata-sphinx-theme>=0.15",
        "matplotlib>=3.7",
        "optuna>=3.4",
    ],
}
EXTRAS["dev"] = sorted(
    {"pytest>=7.4", "pytest-timeout>=2.2", "hypothesis>=6.90"}
    | {req for name in ("plot", "tpe", "dask", "postgres", "docs") for req in EXTRAS[name]}
)

setup(
    name="sklearn-patchdesc",
    version=VERSION,
    description="Learned local patch descriptors and denoisers as scikit-learn estimators, "
    "evaluated with the HPatches protocol.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["sklearn_patchdesc", "sklearn_patchdesc.*"]),
    package_data={"sklearn_patchdesc.describe": ["pretrained/*.safetensors",
                                                 "pretrained/*.json"],
                  "sklearn_patchdesc.denoise": ["pretrained/*.safetensors",
                                                "pretrained/*.json"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.6",
        "torch>=2.2",
        "skorch>=1.0",
        "joblib>=1.3",
        "scikit-image>=0.22",
        "pillow>=9.1",
        "tqdm>=4.60",
        "pytorch-metric-learning>=2.3",
        "safetensors>=0.4",
        # SIFTPatchDescriptor is kornia's SIFTDescriptor; 0.9 centred its pooling grid
        # (the numbers in the docs are 0.9's). The tests also load its HardNet layout.
        "kornia>=0.9",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["sklearn-patchdesc=sklearn_patchdesc.__main__:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: BSD License",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
