"""The plugin as a user gets it, and a first-start installation the test controls.

`plugin_copy` copies the files git tracks (plus new, unignored ones) into a fresh directory: no
.venv, nothing installed. `gated_python` writes a stand-in interpreter for the launcher
(DATAMIGRATION_PYTHON): `-m venv DIR` creates a venv whose `pip install` waits until the test
releases an flock on `gate`, then links this interpreter's `datamigration` script, so a first
start takes exactly as long as the test wants, without a package index. Anything else runs the
real interpreter. The kernel drops the test's lock if the test dies, so nothing waits forever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def plugin_copy(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split(b"\0")):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def gated_python(directory: Path, gate: Path, *, fail: bool = False) -> Path:
    """A DATAMIGRATION_PYTHON whose venv installs once `gate` is unlocked (or fail with 3)."""
    cli = Path(sys.executable).with_name("datamigration")
    install = (
        'echo "pip: no matching distribution (stand-in failure)" >&2; exit 3'
        if fail
        else f'ln -sf "{cli}" "$venv/bin/datamigration"'
    )
    script = directory / "python-standin"
    script.write_text(
        f"""#!/bin/bash
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  venv="$3"
  mkdir -p "$venv/bin"
  cat > "$venv/bin/python" <<EOF
#!/bin/bash
# stands in for: python -m pip install -e PLUGIN_ROOT
echo "pip: installing (stand-in)"
flock -w 120 "{gate}" true
venv="$venv"
{install}
EOF
  chmod +x "$venv/bin/python"
  exit 0
fi
exec "{sys.executable}" "$@"
"""
    )
    script.chmod(0o755)
    gate.touch()
    return script
