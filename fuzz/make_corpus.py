#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_api (fuzz/corpus/): a few small programs
in its input format, one per kind of call. Run it again after changing the
format (see step() and its helpers in fuzz_api.c)."""
import os

# Opcodes (the first byte of a step, modulo 24).
BSEND, BRECV, BSENDL, BRECVL = 0, 1, 2, 3
PAIR, PAIR_MEM, LISTEN, LISTEN_MEM, LISTEN_MODE, CONNECT, CONNECT_MEM = range(4, 11)
ACCEPT, ACCEPT_MEM = 11, 12
FROMFD, FROMFD_MEM, LFROMFD, LFROMFD_MEM = 13, 14, 15, 16
DONE, HCLOSE, IPC_CLOSE = 17, 18, 19
SENDFD, RECVFD = 20, 21
PEERCRED, RAW_WRITE = 22, 23


def slot(i):  # a pool handle
    return 8 * i


STALE = 5
DL_ZERO, DL_NONE, DL_SOON = 0, 1, 7
RAW_A, RAW_LISTEN, RAW_FILE = 0, 2, 3


def make(op, path=0, backlog=3, dl=DL_SOON, null=1):
    return [op, path, backlog, dl, null]


def xfer(op, h, dl, length, mult=1, ptr=1):
    return [op, h, dl, length, mult, ptr]


seeds = {
    "pair_send_recv": make(PAIR) + xfer(BSEND, slot(0), DL_SOON, 10)
    + xfer(BRECV, slot(1), DL_SOON, 10) + [DONE, slot(0), DL_ZERO]
    + xfer(BRECV, slot(1), DL_NONE, 1),
    "listen_connect_accept_fd": make(LISTEN) + make(CONNECT)
    + [ACCEPT, slot(0), DL_SOON] + [SENDFD, slot(1), RAW_FILE, DL_SOON]
    + [RECVFD, slot(2), 0, DL_SOON] + [IPC_CLOSE, slot(1), DL_SOON],
    # A list of three nodes whose last one points back at the first.
    "looped_list": make(PAIR) + [BSENDL, slot(0), DL_ZERO, 3,
                                 0x40, 5, 0x02, 1, 0x40, 7, 4],
    "stale_handle": make(PAIR) + [HCLOSE, slot(0), DL_ZERO]
    + xfer(BSEND, STALE, DL_NONE, 3) + [RECVFD, STALE, 0, DL_NONE],
    "raw_peer_fds": [FROMFD, RAW_A] + [RAW_WRITE, 0, 3, 4]
    + [RECVFD, slot(0), 0, DL_SOON] + xfer(BRECV, slot(0), DL_SOON, 4)
    + [PEERCRED, slot(0), 7],
    "odd_paths": make(LISTEN_MODE, path=8) + [0, 0, 0o7, 0o777 & 0xff]
    + make(CONNECT, path=5) + make(LISTEN, path=4) + make(CONNECT_MEM, path=11, null=0)
    + make(LISTEN_MEM, path=1, backlog=0) + [ACCEPT_MEM, slot(0), DL_NONE, 1],
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(here, exist_ok=True)
for name, steps in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes(b & 0xFF for b in steps))
