#!/usr/bin/python3
# recvtty.py SOCKET: the console-socket end for terminal containers in the criu VM test:
# accepts connections, takes the pty master each sends (SCM_RIGHTS) and keeps it open,
# draining what the container writes, until killed.
import os, select, socket, sys

path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(4)
masters = []
while True:
    ready, _, _ = select.select([srv] + masters, [], [])
    for r in ready:
        if r is srv:
            conn, _ = srv.accept()
            _, fds, _, _ = socket.recv_fds(conn, 4096, 4)
            masters.extend(fds)
            conn.close()
        else:
            try:
                os.read(r, 4096)
            except OSError:
                masters.remove(r)
