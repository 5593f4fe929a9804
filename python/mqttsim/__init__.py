"""mqttsim for Python tests: the fake broker and the fault proxy as
objects (FakeBroker, FaultProxy) and as pytest fixtures (enable them with
`-p mqttsim.pytest_plugin` or `pytest_plugins = ["mqttsim.pytest_plugin"]`).
The programs are found on PATH, or through MQTTSIM_FAKEBROKER and
MQTTSIM_FAULTPROXY."""
from mqttsim.fakebroker import FakeBroker
from mqttsim.faultproxy import FaultProxy

__all__ = ["FakeBroker", "FaultProxy"]
