from setuptools import find_packages, setup

setup(
    name="edf",
    version="0.1.0",
    description="An educational deep-learning framework in Einstein loop notation",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["edf", "edf.*", "kernels", "kernels.*", "lectures"]),
    install_requires=[
        "numpy>=2",
        "numba>=0.60",
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        "dev": ["pytest>=7", "hypothesis>=6.80"],
        "cuda": ["numba-cuda[cu12]"],
        "gpu": ["cupy-cuda12x", "numba-cuda[cu12]"],
        "mutation": ["mutmut>=3.3"],  # mutation testing (README, "Development"); not in CI
    },
    entry_points={"console_scripts": ["edf=edf.cli:main"]},
)
