#!/usr/bin/env python3
"""A worker written to Apache httpd mod_proxy_fdpass's contract, standard library only.

Usage: worker.py SOCKET_PATH

For each unix connection: recvmsg() one data byte plus one SCM_RIGHTS fd, then write a
close-delimited body on the client socket (the sender already wrote the head with
"Connection: close") and close it. This is what a worker behind httpd does; the tests run
it behind fdpass-layer's sender in compatible mode.
"""
import array
import os
import socket
import sys


def main():
    path = sys.argv[1]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    print("ready", flush=True)
    n = 0
    while True:
        conn, _ = srv.accept()
        with conn:
            fds = array.array("i")
            data, ancdata, flags, _ = conn.recvmsg(1, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
            if data != b"\0" or len(fds) != 1 or flags & socket.MSG_CTRUNC:
                for fd in fds:
                    os.close(fd)
                print(f"bad hand-off data={data!r} fds={len(fds)} flags={flags}", flush=True)
                continue
        n += 1
        client = socket.socket(fileno=fds[0])
        peer = client.getpeername()
        client.sendall(
            f"python-worker hand-off #{n} data={data.hex()} peer={peer[0]}:{peer[1]}\n".encode()
        )
        client.close()


if __name__ == "__main__":
    main()
