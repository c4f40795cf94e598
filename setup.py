"""Ships reference_data/ inside the wheel as the package folder validator/reference_data.

pyproject.toml holds all metadata; this file exists only because a package whose source folder
sits outside validator/ cannot be declared there next to an automatic package search. Every
profile folder under reference_data/ (final, preliminary, track2, ...) travels with the wheel,
picked up by the recursive glob; the scripts that made the data stay in the source tree.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["validator*", "pytest_plugin*"]), "validator.reference_data"],
    package_dir={"validator.reference_data": "reference_data"},
    package_data={
        "validator": ["py.typed"],
        "validator.reference_data": ["*.md", "*.json", "**/*"],
    },
    exclude_package_data={"validator.reference_data": ["scripts/*", "scripts/**/*"]},
)
