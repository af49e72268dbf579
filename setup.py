"""Hotline's build: the metadata is in setup.cfg; this adds the one package whose folder
name is not a Python name: asterisk-conf/, the Asterisk configuration an admin loads,
shipped as ``asterisk_conf`` so that an installed Hotline (and its simulator) has it."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(exclude=["tests", "tests.*", "bench", "bench.*"]), "asterisk_conf"],
    package_dir={"asterisk_conf": "asterisk-conf"},
)
