"""The command line: python -m companion serve | channels | init-db | db | create-user | reset-password | unlock | seed-demo |
backup | restore | erase-expired | retag."""
from __future__ import annotations

import argparse
import sys


def _app():
    """The app for one-shot commands: no async server, so the threading mode."""
    from . import create_app
    from .config import Config
    cfg = Config.from_env()
    cfg.ASYNC_MODE = "threading"
    return create_app(cfg)


def cmd_init_db(args) -> None:
    """Create or upgrade the database schema (and the instance folder for SQLite)."""
    from . import migrate
    from .config import INSTANCE
    from .extensions import db
    INSTANCE.mkdir(exist_ok=True)
    app = _app()
    with app.app_context():
        migrate.upgrade()
        print(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


def cmd_db(args) -> None:
    """Alembic migrations: upgrade, downgrade, revision, current."""
    from . import migrate
    app = _app()
    with app.app_context():
        if args.action == "upgrade":
            migrate.upgrade(args.revision or "head")
        elif args.action == "downgrade":
            migrate.downgrade(args.revision or "-1")
        elif args.action == "revision":
            migrate.revision(args.message or "change", rev_id=args.revision)
        else:
            migrate.current()


def cmd_create_user(args) -> None:
    """Create a staff account and print its password once."""
    from .services import accounts
    app = _app()
    with app.app_context():
        user, password = accounts.create_user(args.username, args.role, args.password, department_id=args.department,
                                              display_name=args.name or "", position=args.position or "")
        print(f"Created {user.role} '{user.username}'. Password (shown once): {password}")


def cmd_reset_password(args) -> None:
    """Give an account a new random password and print it once."""
    from sqlalchemy import select

    from .extensions import db
    from .models import User
    from .services import accounts
    app = _app()
    with app.app_context():
        user = db.session.execute(select(User).where(User.username == args.username)).scalar_one_or_none()
        if user is None:
            sys.exit(f"No account '{args.username}'.")
        print(f"New password for '{user.username}' (shown once): {accounts.reset_password(user)}")


def cmd_unlock(args) -> None:
    """Let an account be tried again from every address at once; its password stays."""
    from sqlalchemy import select

    from .extensions import db
    from .models import User
    from .services import accounts
    app = _app()
    with app.app_context():
        user = db.session.execute(select(User).where(User.username == args.username)).scalar_one_or_none()
        if user is None:
            sys.exit(f"No account '{args.username}'.")
        cleared = accounts.unlock(user)
        print(f"'{user.username}' can sign in again with the same password ({cleared} waiting address(es) cleared).")


def cmd_seed_demo(args) -> None:
    """Create the demo broadcast and categories, and an admin account if there is none."""
    from sqlalchemy import select

    from . import migrate
    from .extensions import db
    from .models import Role, User
    from .services import accounts, broadcasts
    app = _app()
    with app.app_context():
        migrate.upgrade()
        broadcasts.seed_demo()
        if db.session.execute(select(User.id).where(User.role == Role.ADMIN)).first() is None:
            user, password = accounts.create_user("admin", Role.ADMIN.value)
            print("=" * 64)
            print(f"  Staff login:  {user.username}")
            print(f"  Password:     {password}   (shown once; keep it)")
            print("=" * 64)
        else:
            print("Staff accounts exist already (forgot the password? python -m companion reset-password admin).")


def cmd_backup(args) -> None:
    """Back up the configured database (safe while the server runs) and keep the newest BACKUP_KEEP."""
    from pathlib import Path

    from .backup import BackupError, backup
    from .config import Config
    cfg = Config.from_env()
    try:
        path = backup(cfg.DATABASE_URL, Path(args.out or cfg.BACKUP_DIR), cfg.BACKUP_KEEP)
    except BackupError as exc:
        sys.exit(f"Error: {exc}")
    print(f"Backup written and checked: {path}")


def cmd_restore(args) -> None:
    """Restore a backup into the configured database (or --to URL), which must be empty unless --force."""
    from pathlib import Path

    from .backup import BackupError, restore
    from .config import Config
    target = args.to or Config.from_env().DATABASE_URL
    try:
        restore(Path(args.file), target, force=args.force)
    except BackupError as exc:
        sys.exit(f"Error: {exc}")
    print(f"Restored {args.file}; run `python -m companion init-db` to bring it to the current schema.")


def cmd_erase_expired(args) -> None:
    """Erase the personal data of appeals finished more than RETENTION_DAYS ago; print the counts only."""
    import logging

    from .services import privacy
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = _app()
    with app.app_context():
        totals = privacy.erase_expired(batch_size=args.batch_size)
        print(f"Anonymised {totals['appeals']} appeal(s) and {totals['questions']} question(s), "
              f"{totals['votes']} vote(s) removed, in {totals['batches']} batch(es) "
              f"(retention {app.config['RETENTION_DAYS']} days).")


def cmd_retag(args) -> None:
    """Apply the topics' keyword rules again to every appeal, newest first, a batch per transaction; staff's
    confirmed and removed topics stay. A run the admin started on the topics page starts over."""
    from .extensions import db
    from .models import TopicRun
    from .services import topics
    if args.batch_size < 1:
        sys.exit("Error: --batch-size must be at least 1.")
    app = _app()
    with app.app_context():
        run = topics.request_retag(None)
        print(f"Applying the topics' rules again to {run.top_id} appeal(s), newest first, "
              f"{args.batch_size} a transaction.")

        def progress(row) -> None:
            if row is not None and (row.state != topics.RUNNING or row.done % (args.batch_size * 20) == 0):
                print(f"  {row.done} appeal(s) done, {row.changed} with changed suggestions ({row.state})", flush=True)
        while topics.retag_batch(run.id, args.batch_size):
            progress(db.session.get(TopicRun, run.id))
        row = db.session.get(TopicRun, run.id)
        if row.state == topics.SUPERSEDED:
            sys.exit("Stopped: the rules were applied again from the topics page meanwhile.")
        print(f"Done: {row.done} appeal(s), {row.changed} with changed suggestions.")


def _print_urls(app, host, port) -> None:
    base = app.config["PUBLIC_URL"].rstrip("/") or f"http://{host}:{port}"
    print(f"Companion is serving on {base}  (async mode: {app.config['ASYNC_MODE']})")
    print(f"  Viewer (residents):   {base}/b/demo")
    print(f"  Moderator:            {base}/moderate/demo")
    print(f"  Teleprompter:         {base}/prompter/demo")
    print(f"  Administration:       {base}/admin/broadcasts")
    print(f"  Appeals:              {base}/appeals")
    print(f"  Phone operator:       {base}/operator")
    print(f"  Roadmap (public):     {base}/roadmap")
    missing = [name for name in ("OFFICE_NAME_KK", "OFFICE_NAME_RU", "ACCEPTING_OFFICIAL_KK", "ACCEPTING_POSITION_KK")
               if not app.config.get(name)]
    if missing:  # the talon must name the office and who accepted the appeal (APPK art. 64(2))
        print(f"  Warning: the talon is incomplete until these are set: {', '.join('COMPANION_' + m for m in missing)}")
    sys.stdout.flush()


def cmd_serve(args) -> None:
    """Serve the app (eventlet by default)."""
    from .serve import serve
    from .transport.versions import UnsupportedLibrary
    try:
        serve(args.host, args.port, banner=_print_urls)
    except UnsupportedLibrary as e:
        sys.exit(f"companion: cannot serve: {e}")


def cmd_channels(args) -> None:
    """Run the messaging channels (the Telegram bot, the WhatsApp webhook) in this process: asyncio, beside the server."""
    import logging

    from .channels import ChannelsNotConfigured, quiet_loggers, run
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    quiet_loggers()
    app = _app()
    try:
        run(app)
    except ChannelsNotConfigured as exc:
        sys.exit(f"companion channels: {exc}")
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the app")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)
    sub.add_parser("channels", help="run the Telegram bot and the WhatsApp webhook (their own process)").set_defaults(func=cmd_channels)
    sub.add_parser("init-db", help="create or upgrade the database schema").set_defaults(func=cmd_init_db)
    p = sub.add_parser("db", help="database migrations (Alembic)")
    p.add_argument("action", choices=["upgrade", "downgrade", "revision", "current"])
    p.add_argument("revision", nargs="?", help="target revision (upgrade: head, downgrade: -1; revision: the new id)")
    p.add_argument("-m", "--message", help="message of a new revision")
    p.set_defaults(func=cmd_db)
    p = sub.add_parser("create-user", help="create a staff account")
    p.add_argument("username")
    p.add_argument("--role", default="moderator", choices=["admin", "moderator", "speaker", "officer", "head", "operator"])
    p.add_argument("--password", help="default: a random password, printed once")
    p.add_argument("--department", type=int, help="department id of an appeals officer")
    p.add_argument("--name", help="full name (a head or a moderator: as the talon prints it, surname and initials)")
    p.add_argument("--position", help="position, printed on the talon of a call this person takes")
    p.set_defaults(func=cmd_create_user)
    p = sub.add_parser("reset-password", help="give an account a new random password")
    p.add_argument("username")
    p.set_defaults(func=cmd_reset_password)
    p = sub.add_parser("unlock", help="let an account's sign-in be tried again at once (the password stays)")
    p.add_argument("username")
    p.set_defaults(func=cmd_unlock)
    sub.add_parser("seed-demo", help="create the demo broadcast and an admin").set_defaults(func=cmd_seed_demo)
    p = sub.add_parser("backup", help="back up the database (safe while serving)")
    p.add_argument("--out", help="folder (default: BACKUP_DIR)")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="restore a backup into an empty database")
    p.add_argument("file")
    p.add_argument("--to", help="database URL (default: DATABASE_URL)")
    p.add_argument("--force", action="store_true", help="replace a database that has tables")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("erase-expired", help="erase names and contacts of appeals finished more than RETENTION_DAYS ago")
    p.add_argument("--batch-size", type=int, default=500, help="appeals per transaction (default 500)")
    p.set_defaults(func=cmd_erase_expired)
    p = sub.add_parser("retag", help="apply the topics' keyword rules again to every appeal (staff's choices stay)")
    p.add_argument("--batch-size", type=int, default=500, help="appeals per transaction (default 500)")
    p.set_defaults(func=cmd_retag)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except Exception as exc:  # a clear message for the person at the terminal
        from .errors import ServiceError
        if isinstance(exc, ServiceError):
            sys.exit(f"Error: {exc.message} {exc.fields or ''}")
        raise


if __name__ == "__main__":
    main()
