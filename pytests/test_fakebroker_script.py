"""Each scripting command of the fakebroker's control interface, observed
from the client side on the wire; and bad input, which closes only the
offending connection while the broker serves everyone else."""
import resource
import socket
import time

import pytest

import mqttraw as m


def client(fb, client_id=None, clean=True, **kw):
    c = m.Client(fb.host, fb.port)
    if client_id is not None:
        ack = c.connect(client_id, clean, **kw)
        assert ack.body[1] == 0, ack  # accepted; the session present flag varies
    return c


def test_refuse(fakebroker):
    fb = fakebroker
    fb.rule("refuse 3 client=x count=2")
    for _ in range(2):
        c = m.Client(fb.host, fb.port)
        c.send(m.connect("x"))
        ack = c.expect(m.CONNACK)
        assert ack.body == b"\x00\x03"
        assert c.closed()
    client(fb, "x").close()  # the rule is spent
    with pytest.raises(RuntimeError, match="CONNACK refusal code"):
        fb.rule("refuse 9")


def test_withhold_delay_duplicate(fakebroker):
    fb = fakebroker
    c = client(fb, "a")
    fb.rule("withhold b2c:PUBACK#2")
    for i in (1, 2, 3):
        c.send(m.publish("t", "x", qos=1, packet_id=i))
    assert [c.expect(m.PUBACK).packet_id for _ in range(2)] == [1, 3]
    assert c.read(0.3) is None
    fb.rule("delay b2c:PUBACK ms=400 count=1")
    start = time.monotonic()
    c.send(m.publish("t", "x", qos=1, packet_id=4))
    assert c.expect(m.PUBACK, timeout=3).packet_id == 4
    assert time.monotonic() - start >= 0.35
    fb.rule("duplicate b2c:SUBACK")
    c.send(m.subscribe(9, ("t", 0)))
    assert c.expect(m.SUBACK).packet_id == 9
    assert c.expect(m.SUBACK).packet_id == 9


def test_reorder_deliver_twice_drop(fakebroker):
    fb = fakebroker
    sub = client(fb, "sub")
    sub.send(m.subscribe(1, ("t", 1)))
    sub.expect(m.SUBACK)
    pub = client(fb, "pub")
    fb.rule("reorder PUBLISH#1 client=sub")
    pub.send(m.publish("t", "first") + m.publish("t", "second"))
    assert [sub.expect(m.PUBLISH).payload for _ in range(2)] == [b"second", b"first"]
    fb.rule("deliver-twice PUBLISH#1 client=sub")
    fb.rule("drop PUBLISH#2 client=sub")
    for i, text in enumerate(("dup", "lost", "kept"), 1):
        pub.send(m.publish("t", text, qos=1, packet_id=i))
        assert pub.expect(m.PUBACK).packet_id == i  # the publisher sees nothing wrong
    got = []
    while (p := sub.read(0.5)) is not None:
        got.append((p.payload, p.dup))
        sub.send(m.ack(m.PUBACK, p.packet_id))
    assert got == [(b"dup", False), (b"dup", False), (b"kept", False)]
    assert fb.stats()["messages_dropped"] == 1


def test_close_at_packet_and_resend(fakebroker):
    fb = fakebroker
    sub = client(fb, "sub", clean=False)
    sub.send(m.subscribe(1, ("t", 2)))
    sub.expect(m.SUBACK)
    pub = client(fb, "pub")
    fb.rule("close c2b:PUBREC#1 client=sub")
    pub.send(m.publish("t", "q2", qos=2, packet_id=1))
    pub.expect(m.PUBREC)
    p = sub.expect(m.PUBLISH)
    sub.send(m.ack(m.PUBREC, p.packet_id))
    assert sub.closed()  # closed before the PUBREC was handled
    sub = client(fb, "sub", clean=False)
    again = sub.expect(m.PUBLISH)  # so the PUBLISH comes again, with DUP
    assert again.dup and again.packet_id == p.packet_id and again.payload == b"q2"
    fb.rule("close b2c:PUBREL#1 when=after")
    sub.send(m.ack(m.PUBREC, again.packet_id))
    assert sub.expect(m.PUBREL).packet_id == p.packet_id
    assert sub.closed()


def test_stop_reading_kick_send_raw(fakebroker):
    fb = fakebroker
    c = client(fb, "quiet")
    fb.command("stop-reading", client="quiet")
    c.send(m.PINGREQ_BYTES)
    assert c.read(0.5) is None  # not read, so not answered
    c.close()
    c = client(fb, "k", will=("w", "bye", 0, False))
    watcher = client(fb, "w")
    watcher.send(m.subscribe(1, ("w", 0)))
    watcher.expect(m.SUBACK)
    fb.command("kick", client="k")
    assert c.closed()
    assert watcher.expect(m.PUBLISH).payload == b"bye"  # a kick is an unclean end
    fb.command("send", client="w", hex="d000")
    assert watcher.expect(m.PINGRESP)
    with pytest.raises(RuntimeError, match="not connected"):
        fb.command("kick", client="nobody")
    with pytest.raises(RuntimeError, match="even number"):
        fb.command("send", client="w", hex="d")
    pkts = fb.packets(type="RAW")
    assert pkts and pkts[-1]["hex"] == "d000"


def test_rules_listing_and_errors(fakebroker):
    fb = fakebroker
    a = fb.rule("withhold b2c:PUBACK#2+ client=x")
    fb.rule("refuse-subscribe secret/#")
    assert fb.command("rules")["rules"] == [f"{a}: withhold b2c:PUBACK#2+ client=x",
                                            f"{a + 1}: refuse-subscribe secret/#"]
    c = client(fb, "s")
    c.send(m.subscribe(3, ("secret/#", 1), ("open", 1)))
    assert c.expect(m.SUBACK).body == b"\x00\x03\x80\x01"
    fb.command("unrule", id=0)
    assert fb.command("rules")["rules"] == []
    for line, msg in (('{"cmd":"rule","rule":"withhold c2b:PUBLISH"}', "b2c"),
                      ('{"cmd":"rule","rule":"close c2b:SUBACK"}', "never send SUBACK"),
                      ('{"cmd":"rule"}', "needs \\\"rule\\\""),
                      ('{"cmd":"nope"}', "unknown command"),
                      ('{"cmd":1}', "expected an object with"),
                      ('[1]', "expected a JSON object"),
                      ('{"cmd":', "not JSON")):
        reply = fb.command_raw(line)
        assert reply["ok"] is False and msg.replace("\\", "") in reply["error"], reply


def test_packets_query(fakebroker):
    fb = fakebroker
    c = client(fb, "q")
    c.send(m.publish("topic/a", "hello", qos=1, packet_id=7))
    c.expect(m.PUBACK)
    pkts = fb.packets(client="q")
    publish = [p for p in pkts if p["type"] == "PUBLISH"][0]
    assert publish["dir"] == "c2b" and publish["topic"] == "topic/a"
    assert publish["payload"] == "hello" and publish["qos"] == 1 and publish["packet_id"] == 7
    puback = [p for p in pkts if p["type"] == "PUBACK"][0]
    assert puback["dir"] == "b2c" and puback["hex"] == "40020007"
    assert puback["seq"] > publish["seq"] and puback["conn"] == publish["conn"]
    later = fb.command("packets", since=publish["seq"])
    assert [p["type"] for p in later["packets"]] == ["PUBACK"]
    assert later["last"] == puback["seq"]


BAD_INPUT = {
    "reserved type": b"\x00\x00",
    "five length bytes": b"\x30\xff\xff\xff\xff\x01",
    "wildcard in topic": m.publish("a/+", "x"),
    "invalid UTF-8 topic": m.packet(0x30, m.string(b"\xc0\xaf") + b"x"),
    "PUBREL flags": b"\x60\x02\x00\x01",
    "server-only packet": b"\x20\x02\x00\x00",
    "second CONNECT": m.connect("again"),
    "oversize remaining length": b"\x30\xff\xff\xff\x7f",
}


@pytest.mark.parametrize("what", sorted(BAD_INPUT))
def test_bad_input_closes_only_offender(fakebroker, what):
    fb = fakebroker
    good = client(fb, "good")
    good.send(m.subscribe(1, ("ok", 0)))
    good.expect(m.SUBACK)
    bad = client(fb, "bad")
    bad.send(BAD_INPUT[what])
    assert bad.closed(), what
    good.send(m.publish("ok", "still here"))
    assert good.expect(m.PUBLISH).payload == b"still here"
    assert fb.stats()["protocol_errors"] == 1


def test_connect_first_and_timeouts(fakebroker_factory):
    fb = fakebroker_factory("--connect-timeout", "1s")
    c = m.Client(fb.host, fb.port)
    c.send(m.PINGREQ_BYTES)  # not a CONNECT
    assert c.closed()
    silent = m.Client(fb.host, fb.port)
    start = time.monotonic()
    assert silent.closed(timeout=5)  # never sends CONNECT
    assert 0.8 < time.monotonic() - start < 3
    # Slowloris: a byte a second never completes a CONNECT in time.
    slow = m.Client(fb.host, fb.port)
    data = m.connect("slow")
    closed = False
    for b in data:
        try:
            slow.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if slow.closed(timeout=0.4):
            closed = True
            break
        time.sleep(0.6)
    assert closed
    # Keep-alive: 1.5 x 1 s of silence closes the connection.
    k = client(fb, "ka", keep_alive=1)
    start = time.monotonic()
    assert k.closed(timeout=5)
    assert 1.3 < time.monotonic() - start < 3
    ok = client(fb, "fine")
    ok.send(m.PINGREQ_BYTES)
    ok.expect(m.PINGRESP)


@pytest.mark.unsanitized  # the 64 MiB bound is the normal build's; ASan's shadow is larger
def test_thousand_idle_connections(fakebroker):
    fb = fakebroker
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    conns = []
    try:
        for i in range(1000):
            s = socket.create_connection((fb.host, fb.port), 10)
            s.sendall(m.connect(f"idle-{i}", keep_alive=0))
            conns.append(s)
        fb.wait_for(lambda: fb.stats()["connections"] == 1000, timeout=30, what="1000 connections")
        for s in conns[:5]:
            assert s.recv(4) == b"\x20\x02\x00\x00"
        rss = fb.rss_kib()
        print(f"fakebroker resident with 1000 idle connections: {rss} KiB")
        assert rss < 64 * 1024, f"{rss} KiB resident"
        # Everyone is still served.
        c = client(fb, "busy")
        c.send(m.subscribe(1, ("b", 0)))
        c.expect(m.SUBACK)
        c.send(m.publish("b", "x"))
        assert c.expect(m.PUBLISH).payload == b"x"
    finally:
        for s in conns:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
