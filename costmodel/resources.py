"""Where the shipped data lives: the model zoo (``arch_specs/``) and the hardware profiles (``hardware_profiles/``).

Both folders stay at the top of the repository; the build maps them into the package as ``costmodel.zoo`` and
``costmodel.profiles`` (setup.py ``package_dir``), so a wheel, a venv, ``pip install --user`` and an editable
install all carry them. They are found with :mod:`importlib.resources`; a plain checkout on ``PYTHONPATH`` (no
install) falls back to the folders beside the package.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from functools import cache
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
ZOO_PACKAGE, ZOO_FOLDER = "costmodel.zoo", "arch_specs"
PROFILES_PACKAGE, PROFILES_FOLDER = "costmodel.profiles", "hardware_profiles"


@cache
def data_dir(package: str, checkout_folder: str) -> Path:
    """The folder of a data package: installed (``importlib.resources``), else the checkout's top-level folder."""
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        return _CHECKOUT / checkout_folder
    if isinstance(root, Path):
        return root
    # The data folders hold no __init__.py: a namespace package, whose reader is a MultiplexedPath; its folder
    # is the import system's one search location.
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else _CHECKOUT / checkout_folder


def zoo_dir() -> Path:
    """The shipped model zoo's folder (specs, with sub-folders such as ``deepmad/``)."""
    return data_dir(ZOO_PACKAGE, ZOO_FOLDER)


def profiles_dir() -> Path:
    """The shipped hardware profiles' folder."""
    return data_dir(PROFILES_PACKAGE, PROFILES_FOLDER)
