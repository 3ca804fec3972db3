#!/usr/bin/env python3
"""A tiny GDB remote-protocol client for the CLI tests: runs STEPs in order.

  rsp_client.py ADDR STEP...     ADDR: a Unix socket path (/...) or HOST:PORT

  send:PAYLOAD       send $PAYLOAD#cs and wait for gdb's '+' ack from the stub
  expect:REGEX       read the next packet, ack it, and require REGEX to match all
                     of its payload (printed as "got PAYLOAD")
  wait-file:PATH:RE  wait until a line of file PATH matches RE (kvmgdb's console)
  kill:PID:SIG       send signal SIG (a number) to PID
  eof                read until the stub closes the connection (packets printed)

Every wait has a deadline (--timeout, 60 s): a stub that never answers fails
the step instead of hanging the test. Exit status 0 when every step passed.
"""
import os
import re
import select
import socket
import sys
import time


class Stub:
    def __init__(self, addr, deadline):
        self.deadline = deadline
        if addr.startswith("/"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(addr)
        else:
            host, port = addr.rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)))
        self.buf = b""

    def _more(self):
        left = self.deadline - time.monotonic()
        if left <= 0 or not select.select([self.sock], [], [], left)[0]:
            raise TimeoutError("no answer from the stub in time")
        try:
            data = self.sock.recv(4096)
        except ConnectionResetError:  # closed with our last '+' unread: a close all the same
            data = b""
        if not data:
            raise EOFError("the stub closed the connection")
        self.buf += data

    def send(self, payload):
        cs = sum(payload.encode()) % 256
        self.sock.sendall(b"$" + payload.encode() + b"#%02x" % cs)
        while not self.buf.startswith(b"+"):
            if self.buf[:1] == b"-":
                raise ValueError(f"the stub NAKed {payload!r}")
            if self.buf:
                raise ValueError(f"expected '+' after {payload!r}, got {self.buf[:40]!r}")
            self._more()
        self.buf = self.buf[1:]

    def packet(self):
        while True:
            m = re.match(rb"\+*\$([^#]*)#([0-9a-fA-F]{2})", self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                payload = m.group(1)
                if sum(payload) % 256 != int(m.group(2), 16):
                    raise ValueError(f"bad checksum on {payload!r}")
                try:
                    self.sock.sendall(b"+")
                except OSError:
                    pass  # the stub may close right after its last reply (D, k)
                return payload.decode(errors="replace")
            self._more()


def wait_file(path, regex, deadline):
    while True:
        try:
            with open(path, errors="replace") as f:
                if any(re.search(regex, line) for line in f):
                    return
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never had a line matching {regex!r}")
        time.sleep(0.05)  # polling a file the guest writes to, until the deadline


def main(argv):
    timeout = 60.0
    if len(argv) > 2 and argv[0] == "--timeout":
        timeout, argv = float(argv[1]), argv[2:]
    if len(argv) < 2:
        sys.exit(__doc__)
    deadline = time.monotonic() + timeout
    stub = Stub(argv[0], deadline)
    for step in argv[1:]:
        kind, _, arg = step.partition(":")
        try:
            if kind == "send":
                stub.send(arg)
            elif kind == "expect":
                got = stub.packet()
                print("got " + got, flush=True)
                if not re.fullmatch(arg, got):
                    raise ValueError(f"reply {got!r} does not match {arg!r}")
            elif kind == "wait-file":
                path, _, regex = arg.partition(":")
                wait_file(path, regex, deadline)
            elif kind == "kill":
                pid, _, sig = arg.partition(":")
                os.kill(int(pid), int(sig))
            elif kind == "eof":
                try:
                    while True:
                        print("got " + stub.packet(), flush=True)
                except EOFError:
                    pass
            else:
                raise ValueError("unknown step")
        except (OSError, ValueError, TimeoutError, EOFError) as e:
            print(f"rsp_client: step {step!r}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
