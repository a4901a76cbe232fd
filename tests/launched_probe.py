"""What a process sees of how it was started, as JSON on stdout; test_launcher runs it launched and fresh.

Arguments: an exit code, then "sleep" to wait for a signal instead of exiting, "thread" to leave a thread that
writes after the main module has ended (the interpreter's exit must wait for it), "raise" to end on an exception,
or "say" to exit with a message instead of the code.
"""

import atexit
import json
import os
import sys
import threading
import time

seen = {
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "path0": sys.path[0],
    "environ": dict(os.environ),
    "codefest_loaded": sorted(name for name in sys.modules if name.split(".")[0] == "codefest"),
    "stdin": sys.stdin.read(),
    "streams": {
        name: [stream.encoding, stream.errors, stream.line_buffering, stream.write_through]
        for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr))
    },
    "session_leader": os.getsid(0) == os.getpid(),
    "pid": os.getpid(),
}
print(json.dumps(seen), flush=True)
atexit.register(lambda: print("atexit ran", file=sys.stderr))
if "sleep" in sys.argv:
    time.sleep(120)
if "thread" in sys.argv:
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread done"))).start()
if "raise" in sys.argv:
    raise RuntimeError("the probe failed")
sys.exit("the probe says no" if "say" in sys.argv else int(sys.argv[1]))
