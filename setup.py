"""Package discovery for setuptools (all other metadata is in pyproject.toml).

The code lives in src/thighmap/. The atlas lives in the repository's top-level assets/
folder (the project layout requires it) and is installed as the data folder
thighmap/assets/: package-data in pyproject.toml takes its whole tree (landmarks.json,
meshes/, and whatever data or licence notices are added there later), and
thighmap.paths reads it with importlib.resources. pyproject.toml alone cannot combine
`packages.find` with that mapping, hence this file. The sub-folders of assets/ are
listed too only so that setuptools does not warn about folders it would take for
packages; they hold no code.
"""

from setuptools import find_namespace_packages, find_packages, setup

atlas_folders = [f"thighmap.assets.{p}" for p in find_namespace_packages("assets", exclude=["*__pycache__*"])]
setup(
    packages=[*find_packages("src"), "thighmap.assets", *atlas_folders],
    package_dir={"": "src", "thighmap.assets": "assets"},
)
