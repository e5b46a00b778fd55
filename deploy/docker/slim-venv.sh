#!/bin/sh
# Trim a virtual environment for a runtime image: drop the packages' own test
# suites, C sources and headers, and strip debug symbols from extension modules.
# Libraries that auditwheel bundled (*.libs/, pyarrow's libarrow*) are left as
# they are: stripping a patchelf-edited library breaks its program headers.
set -eu
site="$1/lib/python3.11/site-packages"
find "$site" -depth -type d -name tests \
    -exec rm -rf {} +
find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' -o -name '*.c' \
    -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) -delete
find "$site" -type f -name '*.so' -not -path '*.libs/*' -not -path '*/pyarrow/*' \
    -exec strip --strip-unneeded {} +
