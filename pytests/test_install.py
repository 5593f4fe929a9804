"""The library as a user meets it: `make install PREFIX=...`, then a program
built with `pkg-config --cflags --libs mqttsim` against the installed copy,
shared and static."""
import re
import subprocess

import pytest

from conftest import PARENT_MAKE_VARIABLES, ROOT, clean_env, run

USER_PROGRAM = r"""
#include <mqttsim/codec.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    struct mqtt_packet p = {.type = MQTT_PUBLISH};
    p.publish.qos = 1;
    p.publish.packet_id = 7;
    p.publish.topic = mqtt_slice_str("home/kitchen/temp");
    p.publish.payload = mqtt_slice_str("21.5");
    unsigned char buf[64];
    size_t n;
    enum mqtt_err err = mqtt_encode(buf, sizeof buf, &p, MQTT_STRICT, &n);
    if (err) {
        printf("encode: %s\n", mqtt_strerror(err));
        return 1;
    }
    struct mqtt_packet d;
    err = mqtt_decode(&d, buf, n, MQTT_STRICT, NULL);
    if (err) {
        printf("decode: %s\n", mqtt_strerror(err));
        return 1;
    }
    printf("%s %zu bytes qos=%d id=%d topic=%.*s payload=%.*s\n",
           mqtt_type_name(d.type), n, d.publish.qos, d.publish.packet_id,
           (int)d.publish.topic.len, (const char *)d.publish.topic.data,
           (int)d.publish.payload.len, (const char *)d.publish.payload.data);
    return 0;
}
"""

ROOT_INCLUDE = ROOT / "include" / "mqttsim"

EXPECTED = "PUBLISH 27 bytes qos=1 id=7 topic=home/kitchen/temp payload=21.5\n"


@pytest.fixture(scope="module")
def prefix(tmp_path_factory, root):
    prefix = tmp_path_factory.mktemp("prefix")
    run(["make", "-C", str(root), "--no-print-directory", "BUILD=build",
         "install", f"PREFIX={prefix}"], env=clean_env(), timeout=600)
    return prefix


def test_installed_files(prefix):
    for rel in ("include/mqttsim/codec.h", "include/mqttsim/api.h",
                "lib/libmqttsim.a", "lib/libmqttsim.so", "lib/libmqttsim.so.0",
                "lib/pkgconfig/mqttsim.pc", "share/man/man3/mqttsim_codec.3",
                "include/mqttsim/store.h", "share/man/man3/mqttsim_store.3",
                "include/mqttsim/client.h", "include/mqttsim/session.h",
                "include/mqttsim/error.h", "share/man/man3/mqttsim_client.3",
                "share/man/man3/mqttsim_session.3", "bin/mqttbench",
                "bin/fakebroker", "share/man/man1/fakebroker.1",
                "include/mqttsim/broker.h", "include/mqttsim/fakebroker.h",
                "include/mqttsim/trigger.h", "share/man/man3/mqttsim_broker.3",
                "bin/faultproxy", "share/man/man1/faultproxy.1",
                "include/mqttsim/faults.h", "bin/mqttc", "share/man/man1/mqttc.1",
                "bin/mqttsim", "share/man/man1/mqttsim.1", "include/mqttsim/mqtttest.h", "share/man/man3/mqttsim_mqtttest.3"):
        assert (prefix / rel).exists(), f"{rel} not installed"
    for rel in ("lib/mqttsim/drivers/mqttsim_client", "lib/mqttsim/drivers/mosquitto_client",
                "lib/mqttsim/drivers/paho_c_client", "lib/mqttsim/drivers/paho_python.py",
                "lib/mqttsim/mosquitto-target"):
        assert (prefix / rel).exists(), f"{rel} not installed"
    pc = (prefix / "lib/pkgconfig/mqttsim.pc").read_text()
    assert f"prefix={prefix}\n" in pc


def test_every_public_header_installed_and_self_contained(prefix, tmp_path):
    # faults.h now includes fault_engine.h: an installed copy must have it.
    headers = sorted(p.name for p in (ROOT_INCLUDE).glob("*.h"))
    assert "fault_engine.h" in headers
    for name in headers:
        assert (prefix / "include/mqttsim" / name).is_file(), f"{name} not installed"
        src = tmp_path / f"use_{name}.c"
        src.write_text(f"#include <mqttsim/{name}>\nint main(void) {{ return 0; }}\n")
        run(["cc", "-std=c11", "-Wall", "-Werror", "-c", "-o", str(tmp_path / "use.o"),
             f"-I{prefix}/include", str(src)])


def test_guides_installed(prefix):
    doc = prefix / "share/doc/mqttsim"
    for guide in sorted((ROOT_INCLUDE.parent.parent / "docs").glob("*.md")):
        assert (doc / guide.name).read_text() == guide.read_text()
    assert (doc / "README.md").is_file()


def test_manual_pages_name_the_installed_guides(prefix):
    # A user with only the installed copy finds the scenario language, the
    # fault plans and the broker rules from the manual pages.
    doc = prefix / "share/doc/mqttsim"
    pages = sorted((prefix / "share/man").glob("man*/*.[13]"))
    assert len(pages) == len(list((ROOT / "docs/man").glob("*.[13]")))
    named = set()
    for page in pages:
        text = page.read_text()
        assert "/usr/local/share/doc/mqttsim" not in text or str(prefix) == "/usr/local", page.name
        if f"{doc}" in text:
            named |= set(re.findall(r"^\.I ([a-z]+\.md)$", text, re.M))
    assert {"scenarios.md", "faults.md", "control.md"} <= named, named
    for guide in named:
        assert (doc / guide).is_file(), guide
    assert f"{doc}" in (prefix / "share/man/man1/mqttsim.1").read_text()


def pkg_config(prefix, *args):
    env = clean_env(PKG_CONFIG_PATH=str(prefix / "lib/pkgconfig"))
    return run(["pkg-config", *args, "mqttsim"], env=env).stdout.split()


def test_program_against_shared_library(prefix, tmp_path):
    src = tmp_path / "user.c"
    src.write_text(USER_PROGRAM)
    exe = tmp_path / "user"
    flags = pkg_config(prefix, "--cflags", "--libs")
    assert f"-I{prefix}/include" in flags and "-lmqttsim" in flags
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(src), *flags])
    env = clean_env(LD_LIBRARY_PATH=str(prefix / "lib"))
    ldd = run(["ldd", str(exe)], env=env).stdout
    assert f"{prefix}/lib/libmqttsim.so.0" in ldd, ldd
    assert run([str(exe)], env=env).stdout == EXPECTED


def test_program_against_static_library(prefix, tmp_path):
    src = tmp_path / "user.c"
    src.write_text(USER_PROGRAM)
    exe = tmp_path / "user-static"
    cflags = pkg_config(prefix, "--cflags")
    libdir = pkg_config(prefix, "--variable=libdir")[0]
    run(["cc", "-std=c11", "-Wall", "-Werror", "-o", str(exe), str(src), *cflags,
         f"{libdir}/libmqttsim.a"])
    assert "libmqttsim" not in run(["ldd", str(exe)], check=False).stdout
    assert run([str(exe)]).stdout == EXPECTED


CXX_PROGRAM = r"""
// Every public header, as C++: C++ users include them as they are.
#include <mqttsim/api.h>
#include <mqttsim/broker.h>
#include <mqttsim/client.h>
#include <mqttsim/codec.h>
#include <mqttsim/error.h>
#include <mqttsim/fakebroker.h>
#include <mqttsim/fault_engine.h>
#include <mqttsim/faults.h>
#include <mqttsim/mqtttest.h>
#include <mqttsim/pcap.h>
#include <mqttsim/session.h>
#include <mqttsim/store.h>
#include <mqttsim/trigger.h>
#include <cstdio>

int main()
{
    mqtt_packet p{};
    p.type = MQTT_PUBLISH;
    p.publish.qos = 1;
    p.publish.packet_id = 7;
    p.publish.topic = mqtt_slice_str("home/kitchen/temp");
    p.publish.payload = mqtt_slice_str("21.5");
    unsigned char buf[64];
    size_t n, at;
    mqtt_packet d;
    if (mqtt_encode(buf, sizeof buf, &p, MQTT_STRICT, &n) || mqtt_decode(&d, buf, n, MQTT_STRICT, &at))
        return 1;
    mqtt_cancel quit = MQTT_CANCEL_INIT;
    mqtt_cancel_fire(&quit);
    mqtt_test_stub down{};
    down.err = {MQTT_DOWN, 0};
    mqtt_api api{};
    mqtt_test_stub_publish(&api, &down);
    mqtt_error e = api.publish.fn(api.publish.arg, &quit, 0, false, p.publish.topic, p.publish.payload,
                                  nullptr);
    char text[128];
    std::printf("%s %zu bytes, fired=%d, %s\n", mqtt_type_name(d.type), n, mqtt_cancel_fired(&quit),
                mqtt_error_text(e, text, sizeof text));
    return 0;
}
"""


@pytest.mark.parametrize("link", ["shared", "static"])
def test_cplusplus_program_against_installed_library(prefix, tmp_path, link):
    src = tmp_path / "user.cc"
    src.write_text(CXX_PROGRAM)
    exe = tmp_path / f"user-cxx-{link}"
    if link == "shared":
        libs = pkg_config(prefix, "--libs")
    else:
        libs = [f"{pkg_config(prefix, '--variable=libdir')[0]}/libmqttsim.a",
                *[f for f in pkg_config(prefix, "--libs", "--static")
                  if f != "-lmqttsim" and not f.startswith("-L")]]
    run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o", str(exe), str(src),
         *pkg_config(prefix, "--cflags"), *libs])
    env = clean_env(LD_LIBRARY_PATH=str(prefix / "lib"))
    out = run([str(exe)], env=env).stdout
    assert out.startswith("PUBLISH 27 bytes, fired=1, "), out
    assert "mqtt: " in out, out


def test_shared_library_exports_only_the_api(prefix):
    out = run(["nm", "-D", "--defined-only", str(prefix / "lib/libmqttsim.so")]).stdout
    names = [line.split()[-1] for line in out.splitlines() if " T " in line]
    assert names, out
    assert all(n.startswith("mqtt_") for n in names), names
    assert "codec_check_topic_list" not in names


def test_shared_library_soname(prefix):
    out = run(["readelf", "-d", str(prefix / "lib/libmqttsim.so.0")]).stdout
    assert "Library soname: [libmqttsim.so.0]" in out


def test_installed_targets_run_outside_the_tree(prefix, tmp_path, root):
    """The installed runner, a driver and mosquitto-target work from any
    folder: a library scenario against libmosquitto's driver, and against
    a private mosquitto that the installed script runs."""
    scn = tmp_path / "q.scn"
    scn.write_text((root / "scenarios" / "qos1-drop-puback-sent.scn").read_text())
    mqttsim = str(prefix / "bin" / "mqttsim")
    proc = run([mqttsim, "run", "--seeds", "1", "--client-cmd",
                str(prefix / "lib/mqttsim/drivers/mosquitto_client"), str(scn)], cwd=tmp_path)
    assert proc.stdout.rstrip().endswith("1 passed, 0 failed, 0 skipped")
    proc = run([mqttsim, "run", "--seeds", "1", "--broker-cmd",
                f"{prefix}/lib/mqttsim/mosquitto-target {{port}} {{dir}}", str(scn)], cwd=tmp_path)
    assert proc.stdout.rstrip().endswith("1 passed, 0 failed, 0 skipped")


def test_nested_makes_drop_what_a_sanitizer_build_passes_down(monkeypatch):
    """`make san` and `make tsan` put variables on make's command line, and
    make exports them to every recipe, pytest's too: a test that builds
    with a nested make must drop each (clean_env), or the user's build/ is
    rebuilt with it. MQTTSIM_LTO= once left build/bin/mqttsim without
    link-time optimization after `make san`, 7% more instructions a run."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    passed = set()
    for target in ("san", "tsan"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe, f"no {target} target in the Makefile"
        for line in recipe.group(1).splitlines():
            if "$(MAKE)" in line:
                passed |= set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", line.split("$(MAKE)", 1)[1]))
    assert {"BUILD", "CFLAGS", "MQTTSIM_LTO", "CC", "CXX"} <= passed, passed
    assert passed - {"PYTEST_ARGS"} <= PARENT_MAKE_VARIABLES
    for name in passed:
        monkeypatch.setenv(name, "")
    assert not passed & set(clean_env()) - {"PYTEST_ARGS"}
