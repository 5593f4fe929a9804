"""MQTT 3.1.1 packets as bytes, for tests that must see and send exactly
what goes over the wire (scripted misbehaviour, malformed input)."""
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + remaining_length(len(body)) + body


def string(s) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def connect(client_id="", clean=True, keep_alive=0, will=None, user=None, password=None) -> bytes:
    flags = 0x02 if clean else 0
    payload = string(client_id)
    if will:
        topic, message, qos, retain = will
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        payload += string(topic) + string(message)
    if user is not None:
        flags |= 0x80
        payload += string(user)
    if password is not None:
        flags |= 0x40
        payload += string(password)
    return packet(0x10, string("MQTT") + bytes([4, flags]) + struct.pack(">H", keep_alive) + payload)


def publish(topic, payload=b"", qos=0, packet_id=0, retain=False, dup=False) -> bytes:
    body = string(topic) + (struct.pack(">H", packet_id) if qos else b"")
    body += payload.encode() if isinstance(payload, str) else payload
    return packet(0x30 | (8 if dup else 0) | qos << 1 | (1 if retain else 0), body)


def subscribe(packet_id, *filters) -> bytes:
    body = struct.pack(">H", packet_id)
    for f, qos in filters:
        body += string(f) + bytes([qos])
    return packet(0x82, body)


def ack(kind: int, packet_id: int) -> bytes:
    return packet(kind << 4 | (2 if kind == PUBREL else 0), struct.pack(">H", packet_id))


PINGREQ_BYTES = packet(0xC0, b"")
DISCONNECT_BYTES = packet(0xE0, b"")


class Packet:
    def __init__(self, first: int, body: bytes):
        self.type = first >> 4
        self.flags = first & 15
        self.body = body
        self.name = NAMES.get(self.type, f"RESERVED{self.type}")

    @property
    def packet_id(self) -> int:
        if self.type == PUBLISH:
            tlen = struct.unpack(">H", self.body[:2])[0]
            return struct.unpack(">H", self.body[2 + tlen:4 + tlen])[0] if self.qos else 0
        return struct.unpack(">H", self.body[:2])[0]

    @property
    def qos(self) -> int:
        return self.flags >> 1 & 3

    @property
    def dup(self) -> bool:
        return bool(self.flags & 8)

    @property
    def retain(self) -> bool:
        return bool(self.flags & 1)

    @property
    def topic(self) -> str:
        tlen = struct.unpack(">H", self.body[:2])[0]
        return self.body[2:2 + tlen].decode()

    @property
    def payload(self) -> bytes:
        tlen = struct.unpack(">H", self.body[:2])[0]
        return self.body[2 + tlen + (2 if self.qos else 0):]

    def __repr__(self):
        return f"<{self.name} flags={self.flags} body={self.body.hex()}>"


class Client:
    """A raw MQTT connection: send bytes, read whole packets."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise EOFError("connection closed by the broker")
        self.buf += chunk
        return True

    def read(self, timeout: float = 5.0):
        """The next packet, or None when none came within timeout. EOFError
        when the broker closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                n, mult, i = 0, 1, 1
                while i < len(self.buf) and i <= 4:
                    n += (self.buf[i] & 0x7F) * mult
                    mult *= 128
                    if not self.buf[i] & 0x80:
                        break
                    i += 1
                else:
                    i = None
                if i is not None and len(self.buf) >= i + 1 + n:
                    p = Packet(self.buf[0], self.buf[i + 1:i + 1 + n])
                    self.buf = self.buf[i + 1 + n:]
                    return p
            if not self._fill(deadline):
                return None

    def expect(self, kind: int, timeout: float = 5.0) -> Packet:
        p = self.read(timeout)
        assert p is not None, f"expected {NAMES[kind]}, got nothing within {timeout} s"
        assert p.type == kind, f"expected {NAMES[kind]}, got {p!r}"
        return p

    def connect(self, client_id, clean=True, **kw) -> Packet:
        self.send(connect(client_id, clean, **kw))
        return self.expect(CONNACK)

    def closed(self, timeout: float = 5.0) -> bool:
        """Whether the broker closes the connection within timeout (after
        any packets it still sends)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.read(deadline - time.monotonic()) is None:
                    return False
        except (EOFError, ConnectionResetError):
            return True
        return False

    def close(self) -> None:
        self.sock.close()
