"""Packaging beyond what pyproject.toml can say: the top-level data folders become packages of costmodel.

``arch_specs/`` (the model zoo) installs as ``costmodel.zoo`` and ``hardware_profiles/`` as
``costmodel.profiles``, sub-folders included, so every kind of install carries them (costmodel/resources.py
finds them with importlib.resources). The folders stay where they are in the repository.
"""

from setuptools import find_packages, setup

DATA = {"costmodel.zoo": "arch_specs", "costmodel.profiles": "hardware_profiles"}

setup(
    packages=[*find_packages(include=["costmodel", "costmodel.*"]), *DATA],
    package_dir=DATA,
    package_data={"costmodel": ["py.typed"], **{package: ["**/*.yaml", "**/*.yml"] for package in DATA}},
)
