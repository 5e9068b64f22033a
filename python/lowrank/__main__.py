"""``python -m lowrank ARGS`` runs the ``lowrank`` command with ARGS (the binary built with this
package, see lowrank._cli): the same options, output and exit codes, because it is the same program."""
import os
import sys

from ._cli import executable


def main() -> None:
    try:
        exe = executable()
    except FileNotFoundError as e:
        print(f"python -m lowrank: {e}", file=sys.stderr)
        sys.exit(2)
    sys.stdout.flush()
    os.execv(exe, [exe] + sys.argv[1:])


if __name__ == "__main__":
    main()
