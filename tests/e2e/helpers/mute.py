#!/usr/bin/env python3
"""A socket that accepts connections (in the kernel's backlog) and never
answers: what a frozen engine looks like from outside.  mute.py PATH"""
import os
import signal
import socket
import sys

path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(128)
print(path, flush=True)
signal.pause()
