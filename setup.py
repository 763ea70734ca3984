"""The one compiled part: the HALO line scanner (engine/traces/readers/_halo_scan.c).

Everything else about the package is in pyproject.toml. The extension is
optional: without a C compiler the install goes on, and the reader takes the
same path on orjson alone (`engine/traces/readers/_native.py`).
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
        )
    ]
)
