#!/usr/bin/python3
"""paho_python.py - the mqttsim driver of paho-mqtt, the Eclipse Paho client
for Python (docs/drivers.md): JSON lines on standard input and output.

The client runs in paho's network thread (loop_start), which reconnects by
itself; commands come in on this thread. paho-mqtt keeps its session state
in memory only, so the driver declares no persistence.

    mqttsim run --client-cmd '/usr/bin/python3 drivers/paho_python.py' FILE.scn
"""
import json
import queue
import sys
import threading

import paho.mqtt
import paho.mqtt.client as mqtt

# The maps below, and each line written whole. Never held while calling
# into paho: its network thread calls our callbacks with its own locks held.
lock = threading.Lock()
online = threading.Event()
subscribes, unsubscribes, publishes = {}, {}, {}   # mid -> command id
early = {}                       # mid -> what its callback said before we knew the mid
read_waiting = []               # read commands waiting, under read_came
read_came = threading.Condition()
ending = False


def emit(**event):
    line = json.dumps(event, separators=(",", ":"))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def message_event(msg, command_id):
    emit(id=command_id, event="message", topic=msg.topic,
         payload=msg.payload.decode("utf-8", "replace"), qos=msg.qos,
         dup=bool(msg.dup), retain=bool(msg.retain))


def on_connect(client, userdata, flags, rc):
    if rc == 0:
        with lock:
            emit(event="connected", session_present=bool(flags.get("session present")))
        online.set()
    else:
        with lock:
            emit(event="log", text=f"CONNACK refused: {mqtt.connack_string(rc)}")


def on_disconnect(client, userdata, rc):
    online.clear()
    with lock:
        emit(event="connection_lost", reason=mqtt.error_string(rc))


def on_message(client, userdata, msg):
    # The application reads in the callback: it returns (and paho
    # acknowledges) only once the runner's read has taken the message.
    with read_came:
        while not read_waiting and not ending:
            read_came.wait()
        if read_waiting:
            with lock:
                message_event(msg, read_waiting.pop(0))


def suback_event(command_id, granted):
    if granted and granted[0] == 0x80:
        emit(id=command_id, event="error", **{"class": "refused"}, text="SUBACK 0x80")
    else:
        emit(id=command_id, event="ok", granted=granted[0] if granted else None)


def on_subscribe(client, userdata, mid, granted):
    with lock:
        command_id = subscribes.pop(mid, None)
        if command_id is None:
            early[("sub", mid)] = granted
        else:
            suback_event(command_id, granted)


def on_unsubscribe(client, userdata, mid):
    with lock:
        command_id = unsubscribes.pop(mid, None)
        if command_id is None:
            early[("unsub", mid)] = True
        else:
            emit(id=command_id, event="ok")


def on_publish(client, userdata, mid):
    with lock:
        command_id = publishes.pop(mid, None)
        if command_id is None:
            early[("pub", mid)] = True
        else:
            emit(id=command_id, event="completed")


def connect(cmd):
    address = cmd["address"]
    if not address.startswith("tcp://"):
        raise ValueError(f"paho_python.py dials tcp:// only, not {address}")
    host, _, port = address[6:].rpartition(":")
    client = mqtt.Client(client_id=cmd["client_id"], clean_session=cmd["clean_session"],
                         protocol=mqtt.MQTTv311)
    if cmd.get("will"):
        w = cmd["will"]
        client.will_set(w["topic"], w["payload"], w["qos"], w["retain"])
    if cmd.get("username"):
        client.username_pw_set(cmd["username"], cmd.get("password"))
    if cmd.get("inflight_max"):
        client.max_inflight_messages_set(cmd["inflight_max"])
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    client.on_message, client.on_subscribe = on_message, on_subscribe
    client.on_unsubscribe, client.on_publish = on_unsubscribe, on_publish
    client.connect_async(host.strip("[]"), int(port), keepalive=cmd.get("keep_alive") or 0)
    client.loop_start()
    return client


def subscribe(client, cmd, unsubscribe=False):
    while True:
        online.wait()
        if unsubscribe:
            rc, mid = client.unsubscribe(cmd["topic"])
        else:
            rc, mid = client.subscribe(cmd["topic"], cmd["qos"])
        if rc == mqtt.MQTT_ERR_SUCCESS:
            with lock:
                key = ("unsub" if unsubscribe else "sub", mid)
                if key in early:
                    if unsubscribe:
                        emit(id=cmd["id"], event="ok")
                    else:
                        suback_event(cmd["id"], early[key])
                    del early[key]
                else:
                    (unsubscribes if unsubscribe else subscribes)[mid] = cmd["id"]
            return
        online.clear()  # it went meanwhile: again once back


def publish(client, cmd):
    while True:
        info = client.publish(cmd["topic"], cmd["payload"].encode(), cmd["qos"], cmd["retain"])
        # Offline, QoS 0 is not sent: the application waits and tries again.
        if info.rc != mqtt.MQTT_ERR_NO_CONN or cmd["qos"]:
            break
        online.wait(1)
    with lock:
        # Offline, paho keeps a QoS 1 or 2 message for the reconnect; QoS 0 is gone.
        if info.rc == mqtt.MQTT_ERR_SUCCESS or (info.rc == mqtt.MQTT_ERR_NO_CONN and cmd["qos"]):
            emit(id=cmd["id"], event="ok")
            done = early.pop(("pub", info.mid), None)  # QoS 0's too: written at once
            if cmd["qos"] and done:
                emit(id=cmd["id"], event="completed")
            elif cmd["qos"]:
                publishes[info.mid] = cmd["id"]
        else:
            emit(id=cmd["id"], event="error", **{"class": "not-sent"}, text=mqtt.error_string(info.rc))


def read_input(commands):
    """Standard input, on a thread of its own: a read is taken at once (paho's
    thread may be waiting in on_message for it); the rest go in order to the
    main thread."""
    global ending
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("cmd") == "read":
            with read_came:
                read_waiting.append(cmd["id"])
                read_came.notify_all()
        else:
            commands.put(cmd)
    with read_came:
        ending = True
        read_came.notify_all()
    commands.put(None)


def main():
    emit(event="hello", driver="paho_python.py", library=f"paho-mqtt {paho.mqtt.__version__}",
         capabilities=[])
    client = None
    commands = queue.Queue()
    threading.Thread(target=read_input, args=(commands,), daemon=True).start()
    for cmd in iter(commands.get, None):
        what = cmd["cmd"]
        if what == "connect":
            client = connect(cmd)
            with lock:
                emit(id=cmd["id"], event="ok")
        elif what == "subscribe":
            subscribe(client, cmd)
        elif what == "unsubscribe":
            subscribe(client, cmd, unsubscribe=True)
        elif what == "publish":
            publish(client, cmd)
        elif what == "disconnect":
            # Not connected: nothing is sent, and "ok" would claim it was.
            rc = client.disconnect()
            with lock:
                if rc == mqtt.MQTT_ERR_SUCCESS:
                    emit(id=cmd["id"], event="ok")
                else:
                    emit(id=cmd["id"], event="error",
                         **{"class": "not-sent" if rc == mqtt.MQTT_ERR_NO_CONN else "unknown",
                            "text": mqtt.error_string(rc)})
    if client:
        client.loop_stop()


if __name__ == "__main__":
    main()
