"""Hotline's build: the metadata is in setup.cfg; this adds the one package whose folder
name is not a Python name: asterisk-conf/, the Asterisk configuration an admin loads,
shipped as ``asterisk_conf`` so that an installed Hotline (and its simulator) has it.

``asterisk_conf`` is a link to asterisk-conf/ beside it, so every package lies in the
repository's root under its own name: an editable install is then one path entry
(``package_dir`` ``{"": "."}``) rather than setuptools' import finder, which warns on each
install that folders named like the packages may take precedence."""

from setuptools import find_namespace_packages, setup

# Hotline's own top-level packages. Found as namespace packages, so that the folders of
# templates, static files, translations and migrations are packages too and setuptools
# ships their files without a warning for each folder.
TOP = [
    "hotline", "domain", "db", "web", "fastagi", "ami", "dialplan", "agent_desktop",
    "voicemail", "callbacks", "reports", "supervisor", "admin", "simulator", "migrations",
]  # fmt: skip

setup(
    packages=[
        *find_namespace_packages(include=[*TOP, *(f"{name}.*" for name in TOP)]),
        "asterisk_conf",
    ],
    package_dir={"": "."},
)
