"""The compiled parts (engine/traces/csrc/): the index build's hot loops, and the
directory lister that makes reopening many small files fast.

Everything else about the package is in pyproject.toml. Both extensions are
optional: without a C compiler the install goes on, and every caller takes
its Python path (`engine/traces/native.py`, `engine/traces/fs.py`), which
gives the same index and the same answers.
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
        ),
        Extension(
            "engine.traces._dirscan",
            sources=[CSRC + "dirscan.c"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            optional=True,
        ),
    ]
)
