"""The `bench face --serve` protocol, shared by bench_face.py and bench_face_ab.py: start the
bench binary (it loads the networks and the images, warms up and prints a `ready` line), then
ask it for the per-image timings (ms: detect, align, embed, full) of images START..END."""
import json
import os
import subprocess


def start(bench, images, limit, threads, extra_env=None):
    """The running bench binary and its `ready` line (`images`, `threads`)."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), **(extra_env or {}))
    proc = subprocess.Popen([bench, "face", "--images", images, "--limit", str(limit), "--serve"],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def timings(proc, start_at, end):
    """Per-image timings of images start_at..end."""
    proc.stdin.write(f"{start_at} {end}\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def stop(proc):
    proc.stdin.close()
    proc.wait()
