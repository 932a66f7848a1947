"""The one compiled part: credit._sha256many, a loop around OpenSSL's SHA-256 (the rest of the
project's metadata is in setup.cfg). It is optional: without a C compiler or OpenSSL's headers
the build goes on without it, and credit.sha256many computes the same digests in Python."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("credit._sha256many", ["credit/_sha256many.c"], libraries=["crypto"], optional=True,
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])])
