# One debugger at a time: a second connection is refused with a line of text,
# and the first session goes on undisturbed.
import socket
connect()
run("break factorial")
if ADDR.startswith("/"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ADDR)
else:
    host, port = ADDR.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
s.settimeout(10)
data = b""
while True:
    chunk = s.recv(256)
    if not chunk:
        break
    data += chunk
s.close()
print("second connection got: " + data.decode().strip())
expect(b"another debugger is already connected" in data, "second connection refused")
run("continue")
expect_stopped_in("factorial")
run("delete")
run("continue")
