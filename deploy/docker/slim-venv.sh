#!/bin/sh
# Trim a virtual environment for a runtime image: drop the packages' own test
# suites, C/C++ sources and headers, files that only offline tooling uses, and
# strip debug symbols from extension modules.
# Libraries that auditwheel bundled (*.libs/, pyarrow's libarrow*) are left as
# they are: stripping a patchelf-edited library breaks its program headers.
# Each removal below was checked by tracing the files every role opens and by
# .ci/containers.sh (see benchmarks/containers/RESULTS.md).
set -eu
site="$1/lib/python3.11/site-packages"
find "$site" -depth -type d -name tests \
    -exec rm -rf {} +
find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' -o -name '*.c' \
    -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' -o -name '*.cu' \
    -o -name '*.cuh' \) -delete
# ONNX's backend conformance suite: sample models and tensors (15 MB), imported only by
# backend test runners.
rm -rf "$site/onnx/backend/test"
# ONNX Runtime's C API library (35 MB): the Python module links the runtime statically
# (its only NEEDED libraries are libc, libstdc++ and friends) and never loads it; only
# native add-ons do. Its offline model tools (transformer optimisers, quantisation) are
# never imported by inference.
rm -f "$site"/onnxruntime/capi/libonnxruntime.so*
rm -rf "$site/onnxruntime/transformers" "$site/onnxruntime/quantization"
find "$site" -type f -name '*.so' -not -path '*.libs/*' -not -path '*/pyarrow/*' \
    -exec strip --strip-unneeded {} +
