"""Run ``robust-validate ZIP --checks-only`` under strace and list, for the confined child
(the process that called landlock_restrict_self) and everything it started, every file opened
with success after the restriction outside the Python installation, the system libraries and
the submission's private folder. Prints "clean" when there is none. Linux with strace only.

    python tools/strace_zip.py submission.zip
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ALLOWED = (sys.prefix, sys.base_prefix, "/usr", "/lib", "/dev/null", "/dev/urandom",
           "/etc/ld.so.cache", "/etc/localtime")
LINE = re.compile(r'^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)')


def main() -> int:
    zip_path = sys.argv[1]
    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "trace"
        subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e",
                        "trace=openat,open,creat,connect,landlock_restrict_self,clone,clone3,fork,vfork",
                        sys.executable, "-m", "validator", zip_path, "--checks-only", "-q"],
                       check=False)
        confined: set[str] = set()
        bad: list[str] = []
        for raw in log.read_text(errors="replace").splitlines():
            match = LINE.match(raw)
            if not match:
                continue
            pid, call, args, result = match.groups()
            if call == "landlock_restrict_self" and result == "0":
                confined.add(pid)
            elif call in ("clone", "clone3", "fork", "vfork") and pid in confined and int(result) > 0:
                confined.add(result)
            elif pid in confined and call in ("openat", "open", "creat") and int(result) >= 0:
                path = re.search(r'"([^"]*)"', args)
                name = path.group(1) if path else ""
                if not name.startswith(ALLOWED) and "robust-validate-zip-" not in name:
                    bad.append(raw)
            elif pid in confined and call == "connect" and result == "0":
                bad.append(raw)
        print(f"confined processes: {len(confined)}")
        print("\n".join(bad) if bad else "clean: nothing opened outside the allowed paths")
        return 1 if bad or not confined else 0


if __name__ == "__main__":
    sys.exit(main())
