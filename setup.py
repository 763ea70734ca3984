"""The one compiled part: the index build's hot loops in C (engine/traces/csrc/).

Everything else about the package is in pyproject.toml. The extension is
optional: without a C compiler the install goes on, and the build takes the
same paths in Python (`engine/traces/native.py`), giving the same index.
"""

from setuptools import Extension, setup

CSRC = "engine/traces/csrc/"

setup(
    ext_modules=[
        Extension(
            "engine.traces._native",
            sources=[CSRC + name for name in ("module.c", "halo_scan.c", "json_values.c", "columns.c", "link.c")],
            depends=[CSRC + "native.h", CSRC + "json_values.h"],
            extra_compile_args=["-O3", "-fvisibility=hidden"],
            optional=True,
        )
    ]
)
