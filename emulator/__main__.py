"""``python -m emulator``: serve the WeChat emulator on a local port.

Example::

    EMULATOR_TOKEN=T EMULATOR_AES_KEY=K python -m emulator --host 127.0.0.1 --port 8950 \\
        --webhook-url http://127.0.0.1:5000/wechat --appid wx_emulator_oa --mode safe

The Token, the EncodingAESKey and the AppSecrets are read from the environment (``EMULATOR_TOKEN``,
``EMULATOR_AES_KEY``, ``EMULATOR_SECRET``, ``EMULATOR_MP_SECRET``): a command line is visible to every user in
``ps``. The flags remain, for a throwaway emulator with made-up secrets.

Point wechatpy at ``http://HOST:PORT/cgi-bin/`` (and its ``wxa`` API at ``http://HOST:PORT/``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Sequence

from werkzeug.serving import run_simple

from emulator.app import create_app
from emulator.config import MODES, EmulatorConfig

logger = logging.getLogger("emulator")


class RedactCredentials(logging.Filter):
    """Blank secrets, tokens and codes out of werkzeug's access log, which prints whole query strings."""

    PATTERN = re.compile(r"\b((?:secret|access_token|js_code|code)=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.PATTERN.sub(r"\1***", record.getMessage())
        record.args = ()
        return True


SECRET_FLAGS_NOTE = "(default: $%s; prefer it: a flag shows in ps)"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = EmulatorConfig()
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="A local stand-in for WeChat's API. Pass the secrets in EMULATOR_TOKEN, EMULATOR_AES_KEY, "
        "EMULATOR_SECRET and EMULATOR_MP_SECRET: a command line is visible to every user in ps.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8950)
    parser.add_argument("--webhook-url", default="", help="the official account's webhook (pushes go there)")
    parser.add_argument(
        "--token",
        default=env("EMULATOR_TOKEN", defaults.token),
        help="the webhook Token " + SECRET_FLAGS_NOTE % "EMULATOR_TOKEN",
    )
    parser.add_argument(
        "--aes-key",
        default=env("EMULATOR_AES_KEY", defaults.aes_key),
        help="the 43-character EncodingAESKey " + SECRET_FLAGS_NOTE % "EMULATOR_AES_KEY",
    )
    parser.add_argument("--appid", default=defaults.oa_appid, help="the official account's AppID")
    parser.add_argument(
        "--secret",
        default=env("EMULATOR_SECRET", defaults.oa_secret),
        help="the official account's AppSecret " + SECRET_FLAGS_NOTE % "EMULATOR_SECRET",
    )
    parser.add_argument("--original-id", default=defaults.oa_original_id, help="the official account's gh_ id")
    parser.add_argument("--mp-appid", default=defaults.mp_appid, help="the mini-program's AppID")
    parser.add_argument(
        "--mp-secret",
        default=env("EMULATOR_MP_SECRET", defaults.mp_secret),
        help="the mini-program's AppSecret " + SECRET_FLAGS_NOTE % "EMULATOR_MP_SECRET",
    )
    parser.add_argument("--mode", choices=MODES, default=defaults.mode, help="message encryption mode")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").addFilter(RedactCredentials())
    config = EmulatorConfig(
        oa_appid=args.appid,
        oa_secret=args.secret,
        oa_original_id=args.original_id,
        mp_appid=args.mp_appid,
        mp_secret=args.mp_secret,
        webhook_url=args.webhook_url,
        token=args.token,
        aes_key=args.aes_key,
        mode=args.mode,
    )
    try:
        config.validate()
    except ValueError as exc:
        raise SystemExit(f"python -m emulator: {exc}") from exc
    logger.info("WeChat emulator on http://%s:%d (webhook: %s)", args.host, args.port, args.webhook_url or "none")
    run_simple(args.host, args.port, create_app(config), threaded=True)


if __name__ == "__main__":
    main()
