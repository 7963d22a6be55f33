from setuptools import find_packages, setup

setup(
    name="edf",
    version="0.1.0",
    description="An educational deep-learning framework in Einstein loop notation",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # kernels/ and lectures/ stay at the top of the checkout but install inside edf, so that no
    # top-level `kernels` or `lectures` lands in site-packages (where another project's would clash)
    packages=[*find_packages(include=["edf", "edf.*"]), "edf.kernels", "edf.lectures"],
    package_dir={"edf.kernels": "kernels", "edf.lectures": "lectures"},
    install_requires=[
        "numpy>=2",
        "numba>=0.60",
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "joblib>=1.3",
        "threadpoolctl>=3.1",  # the fixed thread counts of lecture runs (edf.parallel)
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-xdist>=3.5", "hypothesis>=6.80",
                "markdown-it-py>=3"],  # the suite runs on every core; the docs' code blocks (tests/test_docs.py)
        "cuda": ["numba-cuda[cu12]"],
        "gpu": ["cupy-cuda12x", "numba-cuda[cu12]"],
        # PyTorch (CPU) as the tests' oracle and the benchmarks' peer, never imported by edf;
        # exactly this build: a range would pull the newest release with GBs of CUDA wheels
        "oracle": ["torch==2.13.0"],
        "bench": ["pyperf>=2.6", "torch==2.13.0"],
        # lectures as notebooks: write them (jupytext), run them in a Jupyter kernel (papermill)
        "notebook": ["jupytext>=1.16", "papermill>=2.5", "ipykernel>=6", "nbclient>=0.10", "nbformat>=5.9"],
        # grading a class on a Dask distributed cluster
        "dask": ["dask[distributed]>=2024.1"],
        "mutation": ["mutmut>=3.3"],  # mutation testing (docs/development.md); not in CI
        # the course website (`edf site OUT`): lectures executed as notebooks, MkDocs Material,
        # the API from docstrings, formulas as MathML (latex2mathml); Playwright drives Chromium in its test
        "site": ["jupytext>=1.16", "papermill>=2.5", "ipykernel>=6", "nbformat>=5.9", "mkdocs>=1.6",
                 "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26", "pymdown-extensions>=10",
                 "latex2mathml>=3.77", "playwright>=1.45"],
    },
    entry_points={"console_scripts": ["edf=edf.course.cli:main"]},
)
