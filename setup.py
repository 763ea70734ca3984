"""The compiled parts: the HALO line scanner (engine/traces/readers/_halo_scan.c) and the
directory lister that makes reopening many small files fast (engine/traces/_dirscan.c).

Everything else about the package is in pyproject.toml. The extensions are
optional: without a C compiler the install goes on, the reader takes the
same path on orjson alone (`engine/traces/readers/_native.py`), and directories
are listed with os.scandir / os.stat (`engine/traces/fs.py`).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "engine.traces.readers._halo_scan",
            sources=["engine/traces/readers/_halo_scan.c", "engine/traces/readers/_json_values.c"],
            depends=["engine/traces/readers/_json_values.h"],
            extra_compile_args=["-O3", "-fvisibility=hidden"],
            optional=True,
        ),
        Extension(
            "engine.traces._dirscan",
            sources=["engine/traces/_dirscan.c"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            optional=True,
        ),
    ]
)
