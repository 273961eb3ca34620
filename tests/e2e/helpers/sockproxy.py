#!/usr/bin/env python3
"""A byte-for-byte forwarder from a socket of ours to a real engine's socket,
so that tests can do to the engine's socket what happens to an engine: stop
it (SIGSTOP this process: connections are accepted by the kernel and never
answered, as with a frozen daemon) or kill it (SIGKILL: the socket refuses
connections, as after a daemon's death), without harming the daemon itself.
It adds nothing and changes nothing in between.

  sockproxy.py LISTEN UPSTREAM
    LISTEN    unix:/path or tcp:127.0.0.1:PORT (PORT 0: any; the port is printed)
    UPSTREAM  unix:/path
"""
import os
import socket
import sys
import threading


def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(conn, upstream):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(upstream)
    except OSError:
        conn.close()
        return
    t = threading.Thread(target=pump, args=(up, conn), daemon=True)
    t.start()
    pump(conn, up)
    t.join()
    conn.close()
    up.close()


def main():
    listen, upstream = sys.argv[1], sys.argv[2]
    assert upstream.startswith("unix:")
    upstream = upstream[5:]
    if listen.startswith("unix:"):
        path = listen[5:]
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        print(path, flush=True)
    else:
        host, port = listen[4:].rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        print(s.getsockname()[1], flush=True)
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, upstream), daemon=True).start()


main()
