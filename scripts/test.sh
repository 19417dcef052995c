#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what the tests
# need when it is missing (Debian packages and PyPI packages), then runs
# `cargo test`. Arguments go to cargo test (`scripts/test.sh rules::`).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# The API test validates the OpenAPI description with python3's
# openapi-spec-validator.
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
# The WeChat tests: openssl makes safe-mode test vectors independently of
# our code, and the printable QR card needs a font with Chinese glyphs.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || need+=(fonts-wqy-microhei)
# The console's browser test drives Debian's chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# The power-cut test mounts a FUSE filesystem (tests/fakes/powercut_fs.py)
# through libfuse3.
ls /usr/lib/*/libfuse3.so.3 >/dev/null 2>&1 || need+=(libfuse3-3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${need[*]} (install them, or run this as root to have it done)" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# PyPI: the API test validates the OpenAPI description and fuzzes the API
# with it; the cloud SMS fakes check each request's signature with Aliyun's and Tencent Cloud's
# own official SDKs (tests/fakes/*.py), not with our code.
pip_need=()
python3 -c "import openapi_spec_validator" >/dev/null 2>&1 || pip_need+=(openapi-spec-validator)
python3 -c "import aliyunsdkcore" >/dev/null 2>&1 || pip_need+=(aliyun-python-sdk-core)
python3 -c "import tencentcloud.common" >/dev/null 2>&1 || pip_need+=(tencentcloud-sdk-python-common)
# The power-cut filesystem's binding to libfuse3 (pure Python, ctypes).
python3 -c "import mfusepy" >/dev/null 2>&1 || pip_need+=(mfusepy==3.1.1)
# The API's fuzzer: every operation of the OpenAPI description, checked
# against what the description promises.
python3 -c "import schemathesis" >/dev/null 2>&1 || pip_need+=(schemathesis==4.32.5)
if [ ${#pip_need[@]} -gt 0 ]; then
  echo "installing from PyPI: ${pip_need[*]}"
  python3 -m pip install -q "${pip_need[@]}" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "${pip_need[@]}"
fi

exec cargo test --locked "$@"
