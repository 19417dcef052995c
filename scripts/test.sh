#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what the tests
# need when it is missing (Debian packages and PyPI packages), starts
# PostgreSQL and creates a throwaway database for this run, then runs
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
# The server guide's commands (tests/api/deployment.rs) fetch with curl.
command -v curl >/dev/null 2>&1 || need+=(curl)
# The PostgreSQL tests need a server (and psql, to prepare it).
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
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

# PostgreSQL: started when it is down, a role for the tests (with a
# password, so it works whatever the server's host authentication), and a
# throwaway database for this run; each test makes its own database beside
# it, and all of them are dropped when the run ends. Unreachable means
# failure, never skipped tests.
pg_host=127.0.0.1
pg_port=${CAREMINDER_TEST_PG_PORT:-5432}
if ! pg_isready -q -h "$pg_host" -p "$pg_port"; then
  echo "starting PostgreSQL"
  if command -v pg_lsclusters >/dev/null 2>&1 && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
    pg_lsclusters -h | while read -r version cluster _; do
      pg_ctlcluster "$version" "$cluster" start || true
    done
  else
    service postgresql start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h "$pg_host" -p "$pg_port" && break
    sleep 1
  done
fi
if ! pg_isready -q -h "$pg_host" -p "$pg_port"; then
  echo "PostgreSQL does not answer on $pg_host:$pg_port: the PostgreSQL tests cannot run" >&2
  exit 1
fi
# As the server's superuser: over TCP when it trusts us, else through its
# socket as the postgres system user (Debian's default peer authentication).
pg_admin() {
  if psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 </dev/null; then
    psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
  else
    runuser -u postgres -- psql -p "$pg_port" -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
  fi
}
pg_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'careminder_test') THEN
    CREATE ROLE careminder_test LOGIN CREATEDB PASSWORD 'careminder_test';
  END IF;
END \$\$;" >/dev/null
run_db="careminder_run_$$"
export PGPASSWORD=careminder_test
psql -h "$pg_host" -p "$pg_port" -U careminder_test -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $run_db" </dev/null
export CAREMINDER_TEST_PG="postgres://careminder_test:careminder_test@$pg_host:$pg_port/$run_db"
drop_run_databases() {
  psql -h "$pg_host" -p "$pg_port" -U careminder_test -d postgres -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE '${run_db}%'" </dev/null \
    | while read -r db; do
        psql -h "$pg_host" -p "$pg_port" -U careminder_test -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" </dev/null || true
      done
}
trap drop_run_databases EXIT

# The whole suite on SQLite (the embedded default), then the integration
# suite again with every app serving from its own PostgreSQL database. The
# second pass skips the tests that are about a backend already: SQLite's
# own files (crash, power cut, full disk, upgrades of old SQLite schemas,
# restoring a backup file; PostgreSQL's are pg_dump's; the command line on
# SQLite files as an administrator runs it)
# and those that run both backends themselves; and the one that damages
# stored rows behind the app's back in ways PostgreSQL's types and keys
# refuse outright (a word in a time column, a step deleted under its
# broadcast).
cargo test --locked "$@"
if [ "${CAREMINDER_TEST_BACKEND:-both}" = both ]; then
  CAREMINDER_TEST_BACKEND=postgres cargo test --locked --test api "$@" -- \
    --skip shared:: --skip postgres:: --skip fleet:: --skip bench:: --skip crash:: \
    --skip powercut:: --skip disk:: --skip upgrades:: --skip install:: --skip deployment:: \
    --skip scheduler::a_poisoned_reply_and_a_broken_broadcast_do_not_stop_reminders \
    --skip privacy::a_restored_backup_sends_nothing_already_sent_before_it
fi

# The Debian package, as a county installs it: built by cargo-deb from
# this run's binary (no second, release build), installed with dpkg on
# this machine, and docs/deployment.md run against it command by command,
# then purged (tests/api/deployment.rs). It installs a package
# system-wide, so it needs root (as CI has), and runs when the whole suite
# or `deployment::` was asked for.
if [ $# -eq 0 ] || [[ "$*" == *deployment* ]]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the package test needs root (it installs the Debian package): not run" >&2
    [ -z "${CI:-}" ] || exit 1
  else
    cargo deb --version >/dev/null 2>&1 || cargo install cargo-deb --locked --quiet
    cargo build --locked --quiet --bin careminder
    deb_dir=$(mktemp -d)
    mkdir -p "$deb_dir/release" "$deb_dir/out"
    # cargo-deb packages target/release/careminder: here, this run's binary.
    ln target/debug/careminder "$deb_dir/release/careminder" 2>/dev/null \
      || cp target/debug/careminder "$deb_dir/release/careminder"
    CARGO_TARGET_DIR="$deb_dir" cargo deb --no-build --strip --fast --quiet --output "$deb_dir/out/"
    deb=$(ls "$deb_dir"/out/careminder_*.deb)
    CAREMINDER_TEST_DEB="$deb" cargo test --locked --test api deployment:: -- --ignored --nocapture
    rm -rf "$deb_dir"
  fi
fi
