"""bench/summarize.py turns result lines into the comparison table."""
import importlib.util

from conftest import ROOT

spec = importlib.util.spec_from_file_location("summarize", ROOT / "bench/summarize.py")
summarize = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summarize)

LINES = """# broker: mosquitto
lib=mqttsim qos=1 size=64 n=1000 seconds=0.1 msgs_per_s=30000 mode=pub cpu_s=0.010
lib=mosquitto qos=1 size=64 n=1000 seconds=0.1 msgs_per_s=20000 mode=pub cpu_s=0.020
lib=mqttsim qos=1 size=64 n=1000 seconds=0.1 msgs_per_s=10000 mode=pub cpu_s=0.030
lib=mqttsim qos=1 size=64 n=1000 seconds=0.1 msgs_per_s=20000 mode=pub cpu_s=0.020
lib=paho qos=0 size=64 n=2000 seconds=0.1 msgs_per_s=5000 mode=e2e cpu_s=0.004
not a result line
""".splitlines()


def test_medians_and_ratios():
    table = summarize.summarize(LINES).splitlines()
    assert table[0].startswith("| lib | mode | qos |")
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:5]): line for line in table[2:]}
    mqttsim = rows[("mqttsim", "pub", "1", "64", "3")]
    # median of 30000, 10000, 20000 is 20000: 1.00 x mosquitto's 20000;
    # CPU median 20 us/msg against mosquitto's 20: 1.00
    assert "| 20000 | 1.00 | 20.00 | 1.00 |" in mqttsim
    assert "| 20000 | 1.00 | 20.00 | 1.00 |" in rows[("mosquitto", "pub", "1", "64", "1")]
    # No mosquitto figure for paho's row: no ratio.
    assert "| 5000 | - | 2.00 | - |" in rows[("paho", "e2e", "0", "64", "1")]
    # QoS 0 rows come before QoS 1 rows.
    assert table[2].startswith("| paho | e2e | 0 |")


BROKER_LINES = """# brokers: ...
broker=mosquitto lib=mosquitto qos=2 size=64 n=10 seconds=1 msgs_per_s=1000 mode=e2e cpu_s=1
broker=fakebroker lib=mosquitto qos=2 size=64 n=10 seconds=1 msgs_per_s=1500 mode=e2e cpu_s=1
broker=fakebroker lib=mosquitto qos=2 size=64 n=10 seconds=1 msgs_per_s=2500 mode=e2e cpu_s=1
broker=fakebroker-recording lib=paho qos=0 size=64 n=10 seconds=1 msgs_per_s=700 mode=e2e cpu_s=1
""".splitlines()


def test_broker_table():
    table = summarize.summarize_brokers(BROKER_LINES).splitlines()
    assert table[0].startswith("| client | mode | qos | broker |")
    # QoS 0 first; no mosquitto broker figure for paho: no ratio.
    assert table[2] == "| paho | e2e | 0 | fakebroker-recording | 1 | 700 | - |"
    # The mosquitto broker's row comes first in its group; the median of
    # 1500 and 2500 is 2000, twice mosquitto's.
    assert table[3] == "| mosquitto | e2e | 2 | mosquitto | 1 | 1000 | 1.00 |"
    assert table[4] == "| mosquitto | e2e | 2 | fakebroker | 2 | 2000 | 2.00 |"
    assert summarize.summarize_brokers(LINES) == ""


def test_proxy_table():
    lines = ["via=direct lib=mqttsim qos=0 size=64 n=10 seconds=1 msgs_per_s=1000 mode=e2e cpu_s=1",
             "via=faultproxy lib=mqttsim qos=0 size=64 n=10 seconds=1 msgs_per_s=850 mode=e2e cpu_s=1"]
    table = summarize.summarize_proxy(lines).splitlines()
    assert table[0] == "| client | mode | qos | via | reps | msgs/s median | x direct |"
    assert table[2] == "| mqttsim | e2e | 0 | direct | 1 | 1000 | 1.00 |"
    assert table[3] == "| mqttsim | e2e | 0 | faultproxy | 1 | 850 | 0.85 |"
