#!/bin/sh
# Install the Debian packages that mqttsim's build, tests and benchmarks need.
# Idempotent: when every package is present it does nothing (no apt-get run).
# Non-interactive, and it never starts a system service: mosquitto's package
# would start a broker on port 1883, so a policy-rc.d forbids service starts
# for the length of the install (tests start their own servers).
set -eu

PACKAGES="build-essential pkg-config clang llvm libclang-rt-14-dev
libssl-dev libcunit1-dev libpcap-dev python3 python3-pytest
mosquitto mosquitto-clients python3-paho-mqtt tshark tcpdump iproute2
libmosquitto-dev libpaho-mqtt-dev valgrind openssl strace libjansson-dev libgtest-dev
python3-pip python3-setuptools python3-wheel python3-distributed
chromium chromium-driver python3-selenium python3-junitparser python3-lxml"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi
echo "deps: installing:$missing"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to install:$missing" >&2; exit 1; }
    SUDO="sudo"
fi

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
fi
cleanup() { [ "$made_policy" -eq 1 ] && $SUDO rm -f "$policy"; return 0; }
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture; answer no.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
