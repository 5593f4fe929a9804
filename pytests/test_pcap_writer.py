"""The pcap writer's output as a user meets it: tshark decodes it as MQTT on
port 1883 with no options, and reassembles a PUBLISH written in two pieces."""
import shutil

import pytest

from conftest import build_dir, clean_env, run


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed (make deps)")
def test_tshark_decodes_mqtt(tmp_path):
    pcap = tmp_path / "session.pcap"
    run([str(build_dir() / "tests/capture_tests"), "pcap_writer", "written and read back segment by segment"],
        env=clean_env(MQTTSIM_PCAP_OUT=str(pcap), ASAN_OPTIONS="detect_leaks=0"))
    out = run(["tshark", "-n", "-r", str(pcap), "-Y", "mqtt && tcp.stream == 0", "-T", "fields",
               "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "mqtt.msgtype", "-e", "mqtt.clientid",
               "-e", "mqtt.topic", "-e", "mqtt.msg"], env=clean_env()).stdout
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert rows == [
        ["49152", "1883", "1", "pcap", "", ""],
        ["1883", "49152", "2", "", "", ""],
        ["49152", "1883", "3", "", "a/b", "68656c6c6f"],  # "hello"
    ], out
    # No TCP problems in the synthesised stream 0 (no bad checksums, no gaps).
    expert = run(["tshark", "-n", "-r", str(pcap), "-o", "tcp.check_checksum:TRUE",
                  "-o", "ip.check_checksum:TRUE", "-Y", "tcp.stream == 0 && (_ws.expert.severity >= warning)"],
                 env=clean_env()).stdout
    assert expert.strip() == "", expert
