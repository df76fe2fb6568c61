#!/usr/bin/env bash
# Install the Debian packages the tests and the demo need, when one is missing.
# Run by `make test` (and so by .ci/run); a no-op once installed.
#   datefudge   runs real processes on a shifted wall clock (tests/support/clock.py)
#   e2fsprogs   chattr +i: a file even root cannot write (tests/integration/test_node_health.py)
#   prometheus  promtool checks and unit-tests deploy/prometheus (tests/integration/test_deploy_monitoring.py)
#   systemd     systemd-analyze verifies deploy/systemd (tests/integration/test_deploy_systemd.py)
#   fonts-noto-cjk  the Chinese font of credit report PDFs (`gateway report subject`, the demo)
#   poppler-utils   pdftotext reads those PDFs back (tests/integration/test_credit_report.py)
#   libharfbuzz-subset0  WeasyPrint subsets the PDFs' fonts with it (0.2 s); without it,
#                   with fontTools (12 s per CJK font) (tests/unit/commands/test_report_pdf.py)
set -euo pipefail

PACKAGES=(datefudge e2fsprogs prometheus systemd fonts-noto-cjk poppler-utils libharfbuzz-subset0)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing Debian packages: ${missing[*]} (install them as root; the tests that need them skip)" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
