#!/usr/bin/env bash
# Installs the outside tools the tests check modelvet against (none is a modelvet dependency), idempotently:
# - chromium + playwright-core: the HTML report's browser check (scripts/setup-browser.sh);
# - cyclonedx-python-lib: the official CycloneDX 1.6 strict validator for bom.cdx.json;
# - llama-cpp-python's OpenAI-compatible server: the --endpoint tests (scripts/setup-llama-server.sh; an
#   AMX-free source build, ~8 min once, then cached).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-browser.sh
python3 -c "import cyclonedx.validation.json" 2>/dev/null \
  || python3 -m pip install -q 'cyclonedx-python-lib[json-validation]'
scripts/setup-llama-server.sh
