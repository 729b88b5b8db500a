"""`uniad review`: edit a narrated AD track in the browser, with the rules in view."""

from __future__ import annotations

import argparse
import webbrowser


def _handler(args: argparse.Namespace) -> int:
    from uniad.narrate.deliver.authoring.server import ReviewServer
    from uniad.narrate.deliver.authoring.session import open_session

    session = open_session(args.folder, video=args.video)
    try:
        server = ReviewServer(session, args.port)
        print(f"reviewing {session.folder} ({len(session.draft.cues)} cues, voice "
              f"{session.speech.voice.name}); open\n  {server.url}\n"
              "(only this address works: keep it private; Ctrl-C stops)", flush=True)
        if not args.no_browser:
            webbrowser.open(server.url)
        try:
            server.serve()
        except KeyboardInterrupt:  # Ctrl-C is how a server stops: nothing is lost
            pass
        # uvicorn handles the signal itself and, depending on when it lands, either returns
        # or re-raises it: say it either way (a full-suite run once missed this line).
        print("stopped; every edit is saved in ad.json", flush=True)
    finally:
        session.close()
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {port}")
    return port


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review",
        help="edit an AD track in the browser: hear cues, check the rules, render",
        description=(
            "Serve the authoring page for a `uniad narrate` or `uniad render` output folder "
            "on 127.0.0.1: the video with the AD track, the dialogue/AD timeline and the "
            "cues as an editable table with each cue's WPM, realistic-rule status, speech "
            "fit and cast check. Every edit is saved to ad.json at once, with undo/redo "
            "kept in the folder (.review/); Render rebuilds every deliverable as `uniad "
            "render` does. The address printed carries a private token."
        ),
    )
    parser.add_argument("folder", help="the narration output folder (with ad.json)")
    parser.add_argument("--port", type=_port, default=0,
                        help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--video", default=None,
                        help="the video, if it moved since narration (default: from ad.json)")
    parser.add_argument("--no-browser", action="store_true",
                        help="print the address only; do not open a browser")
    parser.set_defaults(func=_handler)
