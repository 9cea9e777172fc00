#!/usr/bin/env python3
"""A pymodbus server for dcwatch's tests and benchmarks (pymodbus 3.16).

Usage: modbus_server.py SPEC.json

SPEC: {"tcp": "127.0.0.1:5020"} or {"serial": "/dev/pts/3", "baudrate": 9600},
      "framer": "socket" | "rtu" (default: socket for tcp, rtu for serial),
      "devices": [{"id": 1,
                   "holding": {"0": [1, 2, 3]}, "input": {...},
                   "discrete": {"0": [0, 1, 1]}, "coils": {...},
                   "silent_if": "/path",  # while this file exists, the device does not answer
                   "busy_if": "/path",    # ... it answers exception 06 (device busy)
                   "when": [{"file": "/path", "input": {"0": [0, 0]}}]}]
                                          # ... these registers read otherwise
Only the addresses given exist: a read that touches any other gets exception 02.
Prints "ready" once listening.
"""
import asyncio
import functools
import json
import os
import sys

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def blocks(spec, key, bits):
    out = []
    for addr, values in sorted((int(a), v) for a, v in spec.get(key, {}).items()):
        if bits:
            out.append(SimData(address=addr, values=[bool(v) for v in values], datatype=DataType.BITS))
        else:
            out.append(SimData(address=addr, values=list(values), datatype=DataType.REGISTERS))
    return out


FUNCTION_BLOCK = {3: "holding", 4: "input"}


async def action(dev, fc, start, _address, _count, regs, _set_values):
    if dev.get("silent_if") and os.path.exists(dev["silent_if"]):
        await asyncio.sleep(30)
    if dev.get("busy_if") and os.path.exists(dev["busy_if"]):
        return ExcCodes.DEVICE_BUSY
    block = FUNCTION_BLOCK.get(fc)
    for w in dev.get("when", []):
        on = os.path.exists(w["file"])
        for addr, values in w.get(block, {}).items() if block else []:
            base = dev.get(block, {})
            for i, v in enumerate(values):
                a = int(addr) + i
                if 0 <= a - start < len(regs):
                    regs[a - start] = v if on else base_value(base, a, regs[a - start])
    return None


def base_value(base, address, current):
    """The register's value in the spec's base blocks."""
    for addr, values in base.items():
        if int(addr) <= address < int(addr) + len(values):
            return values[address - int(addr)]
    return current


def device(dev):
    simdata = (blocks(dev, "coils", True), blocks(dev, "discrete", True),
               blocks(dev, "holding", False), blocks(dev, "input", False))
    # SimDevice wants every block list non-empty: an unused one gets a lone
    # register far away from anything the tests read.
    filler = [SimData(address=65000, values=[False] * 8, datatype=DataType.BITS)]
    simdata = tuple(s if s else (filler if i < 2 else [SimData(address=65000, values=[0], datatype=DataType.REGISTERS)])
                    for i, s in enumerate(simdata))
    return SimDevice(id=dev["id"], simdata=simdata, action=functools.partial(action, dev))


async def main():
    spec = json.load(open(sys.argv[1]))
    devices = [device(d) for d in spec["devices"]]
    if "tcp" in spec:
        host, port = spec["tcp"].rsplit(":", 1)
        framer = FramerType.RTU if spec.get("framer") == "rtu" else FramerType.SOCKET
        server = ModbusTcpServer(devices, address=(host, int(port)), framer=framer)
    else:
        server = ModbusSerialServer(devices, port=spec["serial"], baudrate=spec.get("baudrate", 9600),
                                    framer=FramerType.RTU)
    task = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.3)
    print("ready", flush=True)
    await task


asyncio.run(main())
