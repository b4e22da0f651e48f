#!/usr/bin/env python3
"""Smoke checks for native-stub: drives the real binary over pipes.

usage: smoke.py PATH_TO_NATIVE_STUB

Uses the `msgpack` module when importable; otherwise (or with
SMOKE_PURE_PY=1) a tiny built-in codec, so the check runs on a bare machine.
Set SMOKE_BIG=0 to skip the >4 GiB u64 streaming check (about 6 s).
"""

import hashlib
import json
import os
import queue
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

# --------------------------------------------------------------------------
# MessagePack: real module if available, else a minimal codec that covers
# what the stub's protocol uses (nil, bool, ints, float64, str, bin, array, map).


class NeedMore(Exception):
    pass


def _pack(obj, out):
    if obj is None:
        out.append(0xC0)
    elif obj is True or obj is False:
        out.append(0xC3 if obj else 0xC2)
    elif isinstance(obj, int):
        _pack_int(obj, out)
    elif isinstance(obj, float):
        out += b"\xcb" + struct.pack(">d", obj)
    elif isinstance(obj, str):
        raw = obj.encode()
        _pack_len(len(raw), out, 0xA0, 31, 0xD9)
        out += raw
    elif isinstance(obj, (bytes, bytearray)):
        _pack_len(len(obj), out, None, 0, 0xC4)
        out += obj
    elif isinstance(obj, (list, tuple)):
        _pack_len(len(obj), out, 0x90, 15, 0xDC, wide=True)
        for item in obj:
            _pack(item, out)
    elif isinstance(obj, dict):
        _pack_len(len(obj), out, 0x80, 15, 0xDE, wide=True)
        for k, v in obj.items():
            _pack(k, out)
            _pack(v, out)
    else:
        raise TypeError(type(obj))


def _pack_int(n, out):
    if 0 <= n < 128:
        out.append(n)
    elif -32 <= n < 0:
        out.append(n & 0xFF)
    elif n >= 0:
        out += b"\xcf" + struct.pack(">Q", n)
    else:
        out += b"\xd3" + struct.pack(">q", n)


def _pack_len(n, out, fix, fixmax, first, wide=False):
    # str8/bin8 start at `first`; array16/map16 (wide) have no 8-bit form.
    if fix is not None and n <= fixmax:
        out.append(fix | n)
    elif not wide and n < 256:
        out += bytes([first]) + struct.pack(">B", n)
    elif n < 65536:
        out += bytes([first + (0 if wide else 1)]) + struct.pack(">H", n)
    else:
        out += bytes([first + (1 if wide else 2)]) + struct.pack(">I", n)


def _take(buf, pos, n):
    if pos + n > len(buf):
        raise NeedMore()
    return buf[pos:pos + n], pos + n


def _unpack(buf, pos):
    b, pos = _take(buf, pos, 1)
    b = b[0]
    if b < 0x80:
        return b, pos
    if b >= 0xE0:
        return b - 256, pos
    if 0x80 <= b <= 0x8F:
        return _unpack_map(buf, pos, b & 0x0F)
    if 0x90 <= b <= 0x9F:
        return _unpack_array(buf, pos, b & 0x0F)
    if 0xA0 <= b <= 0xBF:
        raw, pos = _take(buf, pos, b & 0x1F)
        return raw.decode(), pos
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if b in simple:
        return simple[b], pos
    fixed = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
             0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
    if b in fixed:
        fmt = fixed[b]
        raw, pos = _take(buf, pos, struct.calcsize(fmt))
        return struct.unpack(fmt, raw)[0], pos
    sized = {0xD9: (">B", "str"), 0xDA: (">H", "str"), 0xDB: (">I", "str"),
             0xC4: (">B", "bin"), 0xC5: (">H", "bin"), 0xC6: (">I", "bin"),
             0xDC: (">H", "array"), 0xDD: (">I", "array"),
             0xDE: (">H", "map"), 0xDF: (">I", "map")}
    if b not in sized:
        raise ValueError("unsupported or invalid msgpack byte 0x%02x" % b)
    fmt, kind = sized[b]
    raw, pos = _take(buf, pos, struct.calcsize(fmt))
    n = struct.unpack(fmt, raw)[0]
    if kind == "array":
        return _unpack_array(buf, pos, n)
    if kind == "map":
        return _unpack_map(buf, pos, n)
    raw, pos = _take(buf, pos, n)
    return (raw.decode() if kind == "str" else bytes(raw)), pos


def _unpack_array(buf, pos, n):
    items = []
    for _ in range(n):
        item, pos = _unpack(buf, pos)
        items.append(item)
    return items, pos


def _unpack_map(buf, pos, n):
    result = {}
    for _ in range(n):
        k, pos = _unpack(buf, pos)
        v, pos = _unpack(buf, pos)
        result[k] = v
    return result, pos


class PureUnpacker:
    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def __iter__(self):
        return self

    def __next__(self):
        try:
            obj, pos = _unpack(self.buf, 0)
        except NeedMore:
            raise StopIteration
        del self.buf[:pos]
        return obj


try:
    if os.environ.get("SMOKE_PURE_PY") == "1":
        raise ImportError("forced")
    import msgpack

    def packb(obj):
        return msgpack.packb(obj, use_bin_type=True)

    def make_unpacker():
        return msgpack.Unpacker(raw=False, strict_map_key=False)

    CODEC = "msgpack module " + ".".join(map(str, msgpack.version))
except ImportError:

    def packb(obj):
        out = bytearray()
        _pack(obj, out)
        return bytes(out)

    def make_unpacker():
        return PureUnpacker()

    CODEC = "built-in codec"

# --------------------------------------------------------------------------
# Driving the stub


class Stub:
    """One stub process with pipes drained by threads (no pipe deadlocks)."""

    def __init__(self, binary, args=(), read_stdout=True, stdin=subprocess.PIPE, new_session=False):
        self.proc = subprocess.Popen([binary, *args], stdin=stdin, start_new_session=new_session,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.chunks = queue.Queue()
        self.raw_out = bytearray()
        self.err = bytearray()
        self.unpacker = make_unpacker()
        if read_stdout:
            threading.Thread(target=self._drain_out, daemon=True).start()
        else:
            self.proc.stdout.close()  # simulates a daemon that went away
        self.err_thread = threading.Thread(target=self._drain_err, daemon=True)
        self.err_thread.start()

    def _drain_out(self):
        while True:
            data = self.proc.stdout.read1(65536)
            self.chunks.put(data)
            if not data:
                return

    def _drain_err(self):
        for line in self.proc.stderr:
            self.err += line

    def send(self, data, close=False):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            if close:
                self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def send_in_background(self, data, close=False):
        t = threading.Thread(target=self.send, args=(data, close), daemon=True)
        t.start()
        return t

    def frame(self, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            for obj in self.unpacker:
                return obj
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no frame within %.1fs" % timeout)
            try:
                data = self.chunks.get(timeout=left)
            except queue.Empty:
                continue
            if not data:
                raise EOFError("stdout closed; exit=%s" % self.proc.poll())
            self.raw_out += data
            self.unpacker.feed(data)

    def read_raw(self, n, timeout=10.0):
        deadline = time.time() + timeout
        while len(self.raw_out) < n:
            data = self.chunks.get(timeout=max(0.01, deadline - time.time()))
            if not data:
                break
            self.raw_out += data
        return bytes(self.raw_out[:n])

    def read_all(self, timeout=10.0):
        """Everything written to stdout, once the stub has closed it."""
        while True:
            data = self.chunks.get(timeout=timeout)
            if not data:
                return bytes(self.raw_out)
            self.raw_out += data

    def wait(self, timeout=20.0):
        code = self.proc.wait(timeout=timeout)
        self.err_thread.join(timeout=5)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.wait()

    def logs(self):
        return [json.loads(line) for line in self.err.decode().splitlines() if line.strip()]

    def has_log(self, level, text):
        return any(e["level"] == level and text in e["message"] for e in self.logs())


def header(size, kind="u32"):
    return struct.pack(">Q" if kind == "u64" else ">I", size)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


# --------------------------------------------------------------------------
# Checks


def check_loaded_matches_sha256sum(ctx):
    s = Stub(ctx.binary)
    s.send(header(len(ctx.model)) + ctx.model)
    f = s.frame()
    expect(f["type"] == "loaded", f)
    expect(f["bytes"] == len(ctx.model), f)
    expect(f["sha256"] == ctx.sha, "sha %s != sha256sum %s" % (f["sha256"], ctx.sha))
    expect(isinstance(f["ms"], (int, float)) and f["ms"] >= 0, f)
    s.send(b"", close=True)
    expect(s.wait() == 0, "clean exit")
    expect(s.has_log("INFO", "stdin closed, exiting"), "exit log line")
    expect(s.has_log("INFO", ctx.sha), "loaded log line carries the sha256")


def check_inference_matches_file(ctx):
    s = Stub(ctx.binary)
    size = len(ctx.model)
    rows = [[0, 1, 2, size - 1, size, size + 7, 2**40, 2**64 - 1],
            [random.randrange(0, 2**63) for _ in range(500)], []]
    s.send(header(size) + ctx.model + packb({"request_id": "inf-1", "tokens": rows}))
    expect(s.frame()["type"] == "loaded", "loaded first")
    f = s.frame()
    expect(f["type"] == "result" and f["request_id"] == "inf-1", f)
    expect(isinstance(f["time_ms"], (int, float)), f)
    got = f["result"]["inference"]
    expect(len(got) == len(rows), "batch size")
    for b, row in enumerate(rows):
        want = [[ctx.model[t % size] / 255.0] for t in row]
        expect(got[b] == want, "row %d values differ from the file bytes" % b)
    s.send(b"", close=True)
    expect(s.wait() == 0, "clean exit")


def check_controls(ctx):
    s = Stub(ctx.binary)
    reqs = [{"request_id": "st", "control": 1}, {"request_id": "ck", "control": 0},
            {"request_id": "bad", "control": 9}]
    s.send(header(len(ctx.model)) + ctx.model + b"".join(packb(r) for r in reqs), close=True)
    s.frame()
    st = s.frame()
    expect(st["type"] == "stats" and st["request_id"] == "st", st)
    rss, hwm = st["stats"]["memory_rss"], st["stats"]["memory_max_rss"]
    expect(rss >= len(ctx.model) and hwm >= rss, "rss %d hwm %d" % (rss, hwm))
    expect(s.frame() == {"type": "ack", "request_id": "ck"}, "ack frame")
    err = s.frame()
    expect(err["type"] == "error" and err["request_id"] == "bad", err)
    expect("control" in err["error"]["error"], err)
    expect(s.wait() == 0, "clean exit")


def check_bad_requests(ctx):
    s = Stub(ctx.binary)
    bad = [
        (42, "", "not a map"),
        ({"tokens": [[1]]}, "", "missing request_id"),
        ({"request_id": 5, "tokens": [[1]]}, "", "request_id"),
        ({"request_id": "a"}, "a", "neither"),
        ({"request_id": "b", "tokens": [1, 2]}, "b", "tokens[0]"),
        ({"request_id": "c", "tokens": [[1, -2]]}, "c", "negative"),
        ({"request_id": "d", "tokens": [[1.5]]}, "d", "not an integer"),
        ({"request_id": "e", "tokens": "x"}, "e", "tokens is not an array"),
        ({"request_id": "f", "tokens": [[1]], "control": 0}, "f", "both"),
    ]
    payload = b"".join(packb(req) for req, _, _ in bad)
    good = packb({"request_id": "ok", "tokens": [[3]]})
    s.send(header(len(ctx.model)) + ctx.model + payload + good, close=True)
    s.frame()
    for req, rid, text in bad:
        f = s.frame()
        expect(f["type"] == "error" and f["request_id"] == rid, (req, f))
        expect(text in f["error"]["error"], "%r: message %r lacks %r" % (req, f, text))
    f = s.frame()
    expect(f["type"] == "result" and f["result"]["inference"] == [[[ctx.model[3] / 255.0]]],
           "still serving after errors")
    expect(s.wait() == 0, "clean exit")


def check_invalid_msgpack_exits_4(ctx):
    s = Stub(ctx.binary)
    s.send(header(4) + b"abcd" + b"\xc1\xc1\xc1\xc1", close=True)
    s.frame()
    expect(s.wait() == 4, "exit 4")
    expect(s.has_log("ERROR", "invalid MessagePack"), "error logged")


def check_short_stream_exits_3(ctx):
    s = Stub(ctx.binary)
    s.send(header(1000) + b"x" * 600, close=True)
    expect(s.wait() == 3, "exit 3")
    expect(s.has_log("ERROR", "model stream ended early: received 600 of 1000 bytes"), s.logs())


def check_short_header_exits_3(ctx):
    s = Stub(ctx.binary, ["--header", "u64"])
    s.send(b"\x00\x00\x01", close=True)
    expect(s.wait() == 3, "exit 3")
    expect(s.has_log("ERROR", "size header ended early"), s.logs())


def check_crash_after_bytes(ctx):
    s = Stub(ctx.binary, ["--crash-after-bytes", "100000"])
    s.send_in_background(header(len(ctx.model)) + ctx.model)
    code = s.wait()
    expect(code == -signal.SIGABRT, "died by SIGABRT, got %s" % code)
    expect(s.has_log("ERROR", "simulated crash after 100000 bytes"), s.logs())


def check_exit_after_bytes(ctx):
    s = Stub(ctx.binary, ["--exit-after-bytes", "5000", "--exit-code", "7"])
    s.send_in_background(header(len(ctx.model)) + ctx.model)
    expect(s.wait() == 7, "exit 7")
    expect(s.has_log("ERROR", "simulated exit with code 7"), s.logs())
    s = Stub(ctx.binary, ["--exit-code", "9"])
    expect(s.wait() == 9, "exit 9 at start")
    expect(s.has_log("ERROR", "simulated exit with code 9"), s.logs())
    expect(not s.has_log("INFO", "size header"), "exited before reading the header")


def check_wrong_sha_and_bytes(ctx):
    s = Stub(ctx.binary, ["--wrong-sha", "--wrong-bytes"])
    s.send(header(len(ctx.model)) + ctx.model, close=True)
    f = s.frame()
    expect(f["sha256"] != ctx.sha and f["sha256"][:63] == ctx.sha[:63], f)
    expect(len(f["sha256"]) == 64 and all(c in "0123456789abcdef" for c in f["sha256"]), f)
    expect(f["bytes"] == len(ctx.model) + 1, f)
    expect(s.wait() == 0, "clean exit")


def check_garbage(ctx):
    s = Stub(ctx.binary, ["--garbage"])
    s.send(header(len(ctx.model)) + ctx.model)
    raw = s.read_raw(64)
    expect(raw == b"\xc1" * 64, "64 bytes of 0xc1, got %r" % raw[:16])
    s.send(packb({"request_id": "x", "control": 0}), close=True)
    expect(s.wait() == 0, "clean exit")
    tail = make_unpacker()
    tail.feed(s.read_all()[64:])
    expect(list(tail) == [{"type": "ack", "request_id": "x"}], "still serving after garbage")


def check_discard(ctx):
    s = Stub(ctx.binary, ["--discard"])
    s.send(header(len(ctx.model)) + ctx.model + packb({"request_id": "d", "tokens": [[1]]}),
           close=True)
    f = s.frame()
    expect(f["bytes"] == len(ctx.model) and f["sha256"] == ctx.sha, f)
    e = s.frame()
    expect(e["type"] == "error" and e["error"]["error"] == "model discarded (--discard)", e)
    expect(s.wait() == 0, "clean exit")


def check_u64_header(ctx):
    s = Stub(ctx.binary, ["--header", "u64", "--read-block", "4096"])
    s.send(header(len(ctx.model), "u64") + ctx.model +
           packb({"request_id": "u", "tokens": [[len(ctx.model) - 1]]}), close=True)
    f = s.frame()
    expect(f["bytes"] == len(ctx.model) and f["sha256"] == ctx.sha, f)
    expect(s.frame()["result"]["inference"] == [[[ctx.model[-1] / 255.0]]], "last byte")
    expect(s.wait() == 0, "clean exit")


# sha256 of 4 GiB + 10 zero bytes: `head -c 4294967306 /dev/zero | sha256sum`
BIG_SIZE = (1 << 32) + 10
BIG_SHA = "be644b7813df6c1917e9747f76d52757622b57ecbee1f3029fd09497e38f794f"


def check_u64_over_4gib(ctx):
    if os.environ.get("SMOKE_BIG") == "0":
        return "skipped"
    # A shell feeds the stub directly: pumping 4 GiB through Python is slow.
    hdr = "".join("\\x%02x" % b for b in header(BIG_SIZE, "u64"))
    feeder = subprocess.Popen(["bash", "-c", "printf '%s'; head -c %d /dev/zero" % (hdr, BIG_SIZE)],
                              stdout=subprocess.PIPE)
    s = Stub(ctx.binary, ["--header", "u64", "--discard"], stdin=feeder.stdout)
    feeder.stdout.close()
    f = s.frame(timeout=120)
    expect(f["bytes"] == BIG_SIZE and f["sha256"] == BIG_SHA, f)
    expect(s.wait(timeout=30) == 0, "clean exit")
    progress = [e for e in s.logs() if e["message"].startswith("received ")]
    expect(len(progress) == BIG_SIZE // (256 << 20), "progress logged every 256 MiB")
    feeder.wait()


def check_empty_model(ctx):
    s = Stub(ctx.binary)
    s.send(header(0) + packb({"request_id": "z", "tokens": [[0]]}), close=True)
    f = s.frame()
    expect(f["bytes"] == 0 and f["sha256"] == hashlib.sha256(b"").hexdigest(), f)
    e = s.frame()
    expect(e["type"] == "error" and "size is 0" in e["error"]["error"], e)
    expect(s.wait() == 0, "clean exit")


def check_hangs_and_sigterm(ctx):
    s = Stub(ctx.binary, ["--hang"])
    s.send_in_background(header(len(ctx.model)) + ctx.model)
    time.sleep(0.5)
    expect(s.proc.poll() is None, "--hang keeps running")
    expect(s.kill() == -signal.SIGTERM, "--hang dies on SIGTERM")
    expect(s.has_log("WARN", "simulated hang"), s.logs())
    s = Stub(ctx.binary, ["--hang-after-load"])
    s.send(header(len(ctx.model)) + ctx.model)
    time.sleep(0.5)
    expect(s.proc.poll() is None and not s.raw_out and s.chunks.empty(), "no loaded frame")
    expect(s.kill() == -signal.SIGTERM, "--hang-after-load dies on SIGTERM")
    expect(s.has_log("WARN", "simulated hang after load"), s.logs())
    s = Stub(ctx.binary, ["--hang", "--ignore-sigterm"])
    s.send_in_background(header(len(ctx.model)) + ctx.model)
    time.sleep(0.3)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    expect(s.proc.poll() is None, "--ignore-sigterm survives SIGTERM")
    s.proc.kill()
    expect(s.proc.wait(timeout=10) == -signal.SIGKILL, "--ignore-sigterm dies on SIGKILL")


def _alive(pid):
    """Running and not a zombie: a zombie holds no memory and waits only for its reaper."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone_within(pid, seconds):
    deadline = time.time() + seconds
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def check_dies_with_its_parent(ctx):
    # sh is the stub's parent; `sleep` keeps the stub's stdin open, so only the
    # parent-death signal, not EOF, can end it once sh is killed.
    sh = subprocess.Popen(["sh", "-c", 'sleep 30 | "$0" --ignore-sigterm 2>/dev/null & echo $!; wait', ctx.binary],
                          stdout=subprocess.PIPE, text=True)
    stub_pid = int(sh.stdout.readline())
    time.sleep(0.3)
    expect(_alive(stub_pid), "the stub runs while its parent does")
    sh.kill()
    sh.wait()
    gone = _gone_within(stub_pid, 2)
    if not gone:
        os.kill(stub_pid, signal.SIGKILL)
    expect(gone, "the stub outlived its parent by 2 s (no PR_SET_PDEATHSIG?)")


def check_spawn_helper(ctx):
    # In a session (and so a process group) of its own, as the daemon spawns
    # it, so that signalling the group cannot reach this script.
    s = Stub(ctx.binary, ["--spawn-helper", "--hang"], new_session=True)
    s.send_in_background(header(len(ctx.model)) + ctx.model)
    time.sleep(0.3)
    found = [e["message"] for e in s.logs() if e["message"].startswith("helper started: pid ")]
    expect(found, s.logs())
    helper = int(found[0].split()[-1])
    expect(_alive(helper) and os.getpgid(helper) == s.proc.pid, "the helper runs in the stub's group")
    os.killpg(s.proc.pid, signal.SIGTERM)
    expect(s.wait() == -signal.SIGTERM, "the stub dies on SIGTERM to its group")
    expect(_gone_within(helper, 2), "the helper dies on SIGTERM to its group")


def check_read_rate(ctx):
    size = 300_000
    s = Stub(ctx.binary, ["--read-rate", "1000000"])
    start = time.time()
    s.send_in_background(header(size) + ctx.model[:size], close=True)
    s.frame()
    elapsed = time.time() - start
    expect(elapsed >= 0.25, "300 kB at 1 MB/s took only %.3fs" % elapsed)
    expect(s.wait() == 0, "clean exit")


def check_stdout_closed_exits_5(ctx):
    s = Stub(ctx.binary, read_stdout=False)
    s.send(header(10) + b"0123456789", close=True)
    expect(s.wait() == 5, "exit 5")
    expect(s.has_log("ERROR", "write to stdout failed"), s.logs())


def check_cli(ctx):
    r = subprocess.run([ctx.binary, "--help"], capture_output=True, text=True)
    expect(r.returncode == 0, "--help exit 0")
    for flag in ["--header", "--crash-after-bytes", "--exit-after-bytes", "--exit-code",
                 "--read-rate", "--read-block", "--hang", "--hang-after-load", "--garbage",
                 "--wrong-sha", "--wrong-bytes", "--discard", "--ignore-sigterm", "--spawn-helper",
                 "--help"]:
        expect(flag in r.stdout, "usage lists " + flag)
    for args, name in [(["--bogus"], "--bogus"), (["--header", "u16"], "--header"),
                       (["--read-rate", "-5"], "--read-rate"), (["--exit-code"], "--exit-code")]:
        r = subprocess.run([ctx.binary, *args], capture_output=True, text=True)
        expect(r.returncode == 2 and name in r.stderr, "%s -> exit 2 naming %s" % (args, name))


def check_log_format(ctx):
    s = Stub(ctx.binary)
    s.send(header(len(ctx.model)) + ctx.model, close=True)
    s.frame()
    s.wait()
    entries = s.logs()
    expect(len(entries) >= 4, "start, header, loaded, exit lines")
    for e in entries:
        expect(set(e) == {"level", "timestamp", "message", "pid"}, e)
        expect(e["level"] in ("INFO", "WARN", "ERROR", "DEBUG"), e)
        expect(isinstance(e["timestamp"], int) and e["timestamp"] > 1_600_000_000_000, e)
        expect(e["pid"] == s.proc.pid, e)
    expect("header=u32" in entries[0]["message"], "start line names the header kind")


CHECKS = [
    check_loaded_matches_sha256sum, check_inference_matches_file, check_controls,
    check_bad_requests, check_invalid_msgpack_exits_4, check_short_stream_exits_3,
    check_short_header_exits_3, check_crash_after_bytes, check_exit_after_bytes,
    check_wrong_sha_and_bytes, check_garbage, check_discard, check_u64_header,
    check_u64_over_4gib, check_empty_model, check_hangs_and_sigterm, check_dies_with_its_parent,
    check_spawn_helper, check_read_rate, check_stdout_closed_exits_5, check_cli, check_log_format,
]


class Context:
    def __init__(self, binary, model_path):
        self.binary = binary
        with open(model_path, "rb") as fh:
            self.model = fh.read()
        out = subprocess.run(["sha256sum", model_path], capture_output=True, text=True, check=True)
        self.sha = out.stdout.split()[0]


def main():
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.bin")
        with open(model_path, "wb") as fh:
            fh.write(os.urandom(3 * 1024 * 1024))
        ctx = Context(binary, model_path)
        print("codec: " + CODEC)
        passed = failed = skipped = 0
        for check in CHECKS:
            t0 = time.time()
            try:
                outcome = check(ctx) or "ok"
            except Exception as exc:  # report every check, not just the first failure
                outcome = "FAIL: %s: %s" % (type(exc).__name__, exc)
            name = check.__name__[len("check_"):]
            print("%-32s %s (%.2fs)" % (name, outcome, time.time() - t0), flush=True)
            if outcome.startswith("FAIL"):
                failed += 1
            elif outcome == "skipped":
                skipped += 1
            else:
                passed += 1
    print("smoke: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
