"""`vunet-studio`: the app with no arguments; `vunet-studio render ...` renders headless."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "render":
        from vunet_studio.render_cli import main as render_main

        return render_main(args[1:])
    from vunet_studio.gui.app import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())
