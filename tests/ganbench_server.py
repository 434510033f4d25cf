"""Runs ``python -m ganbench ARGS`` many times for one interpreter start-up (the tests' ``ganbench_cli``).

Importing ganbench (torch, Lightning, jsonargparse...) costs ~6 s of CPU, most of a short test fit in its own
process. This server imports it once, as ``python -m ganbench`` does before its ``main()``, and then forks
one child per request read from stdin (a JSON line: args, env, cwd, stdout and stderr files, timeout).
Each child is its own process: it takes the request's environment, working directory and output files, runs
``ganbench`` as ``__main__`` (``runpy``, as ``-m`` does) and exits through the interpreter's normal shutdown
(atexit handlers, W&B's included); its W&B session, signal handlers and seeds are its own. What the import
printed starts each child's stdout and stderr, as a fresh ``python -m ganbench`` would print it there. The
answer (a JSON line on stdout) is the child's exit status and wall time.
"""

import json
import os
import runpy
import shutil
import signal
import sys
import time


def serve() -> None:
    answers = os.fdopen(os.dup(1), "w")
    import_out, import_err = sys.argv[1:3]
    saved_err = os.dup(2)
    for fd, path in ((1, import_out), (2, import_err)):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, fd)
        os.close(out)
    # ganbench.cli: what `python -m ganbench` imports before its main() runs. wandb and its launch-input
    # models: what every W&B run imports in wandb.init (~1.5 s of a 2-core runner's CPU). Nothing in
    # them depends on the child.
    import wandb  # noqa: F401
    import wandb.sdk.launch.inputs.internal  # noqa: F401

    import ganbench.cli  # noqa: F401

    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # only children write output; the answers have their own descriptor
    os.dup2(saved_err, 2)
    for line in sys.stdin:
        request = json.loads(line)
        for path, start in ((request["stdout"], import_out), (request["stderr"], import_err)):
            shutil.copyfile(start, path)
        sys.stdout.flush()
        sys.stderr.flush()
        answers.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            answers.close()
            run_child(request)  # never returns: the child's SystemExit ends this interpreter
        deadline = started + request["timeout"]
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.02)
        answer = {
            "returncode": os.waitstatus_to_exitcode(status),
            "seconds": time.monotonic() - started,
            "timed_out": timed_out,
        }
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def run_child(request: dict) -> None:
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        out = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(out, fd)
        os.close(out)
    stdin = os.open(os.devnull, os.O_RDONLY)  # not the server's requests
    os.dup2(stdin, 0)
    os.close(stdin)
    sys.argv = ["ganbench", *request["args"]]  # runpy puts the module's path in argv[0], as -m does
    runpy.run_module("ganbench", run_name="__main__", alter_sys=True)
    sys.exit(0)  # __main__ ends with sys.exit(main()); reaching here would be a bug, not a success


if __name__ == "__main__":
    serve()
