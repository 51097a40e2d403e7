"""Flask CLI commands: `bin/voxmoji stickers ...` (that is `flask --app backend stickers ...`)."""
import json

import click
from flask.cli import AppGroup

stickers_cli = AppGroup("stickers", help="Sticker templates (engine code: run these on a worker host).")


@stickers_cli.command("render-previews")
def render_previews_command():
    """Render the template previews served by GET /api/v1/templates (sticker workers do this at start)."""
    from backend.engines import sticker_templates
    from backend.services.media import templates

    click.echo(f"rendered {templates.render_builtin_previews(sticker_templates.image)} previews")


@stickers_cli.command("detect-template-faces")
def detect_template_faces_command():
    """Detect the photo templates' faces with MediaPipe and rewrite template_faces.json."""
    from backend.builtin_templates import FACES_FILE
    from backend.engines import sticker_templates
    from backend.engines.face_analysis import FaceAnalyzer

    data = sticker_templates.detect_template_faces(FaceAnalyzer())
    FACES_FILE.write_text(json.dumps(data, separators=(",", ":")))
    click.echo(f"wrote {FACES_FILE}")


@click.command("create-api-key")
@click.option("--name", required=True, help="who or what uses the key (shown in the audit log)")
@click.option("--scope", type=click.Choice(["recharge", "speech"]), default="recharge", show_default=True)
@click.option("--user", "user_ref", default=None, help="speech keys: the account (id or openid) the key bills")
def create_api_key_command(name, scope, user_ref):
    """Create an API key; the key is printed once, alone on the last line, and stored only as a hash."""
    from backend.services.backoffice import accounts, api_keys

    user_id = accounts.find(user_ref).id if scope == "speech" and user_ref else None
    if scope == "speech" and user_id is None:
        raise click.UsageError("a speech key needs --user (the account it bills)")
    from sqlalchemy.exc import IntegrityError

    try:
        record, key = api_keys.create(name, scope, user_id)
    except IntegrityError:  # names are unique: the audit log tells keys apart by them
        raise click.UsageError(f"an API key named {name!r} exists already; choose another --name") from None
    click.echo(f"created API key {record.name!r} (scope {record.scope}); store it now, it is not shown again:")
    click.echo(key)


@click.command("create-admin")
@click.option("--username", required=True, help="the operator's login name (1-64 characters)")
@click.option("--role", type=click.Choice(["admin", "moderator", "finance"]), default="admin", show_default=True)
@click.option("--password", envvar="VOXMOJI_ADMIN_PASSWORD", default=None,
              help="at least 12 characters (or VOXMOJI_ADMIN_PASSWORD); a random one is made and shown if omitted")
def create_admin_command(username, role, password):
    """Create a console operator; prints the TOTP secret to add to an authenticator app (shown once)."""
    import secrets

    from sqlalchemy.exc import IntegrityError

    from backend.services.backoffice import audit, operators

    generated = password is None
    password = password or secrets.token_urlsafe(18)
    try:
        operator, secret = operators.create(username, password, role)
    except ValueError as error:
        raise click.ClickException(str(error))
    except IntegrityError:
        raise click.ClickException(f"an operator named {username!r} exists already")
    audit.record("cli", "operator_create", None, username=operator.username, role=role)
    click.echo(f"operator {operator.username} ({role}) created; sign in at /admin/")
    if generated:
        click.echo(f"password: {password}")
    click.echo(f"TOTP secret: {secret}")
    click.echo(f"TOTP URI (as a QR code for the authenticator app): {operators.provisioning_uri(operator)}")


@click.command("recharge")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV: one user (openid or user id) per line, optionally a second column with the amount")
@click.option("--amount", type=int, help="amount for lines without their own")
@click.option("--reason", required=True, help="why (kept in the audit log)")
@click.option("--batch-id", default=None, help="reuse to resume an interrupted batch (lines apply once per batch)")
def recharge_command(path, amount, reason, batch_id):
    """Recharge users from a CSV file with the same service as POST /api/v1/admin/recharges."""
    import csv
    import getpass

    from backend.errors import ApiError
    from backend.models import new_id
    from backend.services.backoffice import recharges

    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and row[0].strip() and not row[0].startswith("#")]
    items = [{"user": row[0].strip(), "amount": int(row[1]) if len(row) > 1 and row[1].strip() else amount}
             for row in rows]
    try:
        batch = recharges.parse({"items": items, "reason": reason})
    except ApiError as error:
        raise click.ClickException(error.message)
    result = recharges.apply(batch, batch_id or new_id("b"), actor=f"cli:{getpass.getuser()}")
    for line in result["failed_users"]:
        click.echo(f"failed  {line['user']}: {line['reason']}", err=True)
    click.echo(f"batch {result['batch_id']}: {len(result['succeeded'])} applied, {len(result['failed_users'])} failed")


@click.command("block-user")
@click.argument("user")
@click.option("--reason", required=True, help="why (kept in the audit log)")
@click.option("--unblock", is_flag=True, help="lift the block instead")
def block_user_command(user, reason, unblock):
    """Block a user (id or openid) at once: every request of theirs is 403 from now on."""
    import getpass

    from backend.errors import ApiError
    from backend.services.backoffice import accounts

    try:
        found = accounts.set_blocked(user, not unblock, f"cli:{getpass.getuser()}", reason)
    except ApiError as error:
        raise click.ClickException(error.message)
    click.echo(f"user {found.id} {'unblocked' if unblock else 'blocked'}")


media_cli = AppGroup("media", help="Media storage.")


@media_cli.command("prepare-bucket")
def prepare_bucket_command():
    """S3 mode: create S3_BUCKET if it does not exist and, unless MEDIA_PUBLIC_BASE hands out presigned URLs,
    let Nginx read its public/ prefix without credentials (restrict that to your network: docs/deploy.md)."""
    from flask import current_app

    from backend import storage
    from backend.services.media import files

    config = current_app.config
    if config["MEDIA_STORAGE"] != "s3":
        raise click.ClickException("VOXMOJI_MEDIA_STORAGE is not s3; the local media root needs no preparing.")
    client, bucket = files.store().client, config["S3_BUCKET"]
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        client.create_bucket(Bucket=bucket)
        click.echo(f"created bucket {bucket}")
    if not config["MEDIA_PUBLIC_BASE"]:
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(storage.public_read_policy(bucket)))
        click.echo(f"{bucket}/{storage.PUBLIC_PREFIX}* is readable without credentials; {storage.PRIVATE_PREFIX}* "
                   "is not")


words_cli = AppGroup("words", help="The moderation word list (matched before any job is created).")


@words_cli.command("add")
@click.argument("word")
@click.option("--label", required=True, help="what it is about (politics, porn, abuse, ads, fraud, ...)")
@click.option("--action", type=click.Choice(["risky", "review"]), default="risky", show_default=True,
              help="risky: refuse the request; review: accept it and flag it for the review queue")
def add_word_command(word, label, action):
    """Add (or update) a word; every web process uses it within a second."""
    from backend.services.backoffice import moderation

    try:
        normalized = moderation.add_word(word, label, action)
    except ValueError as error:
        raise click.ClickException(str(error))
    click.echo(f"{action} {label}: {word} (matched as {normalized!r})")


@words_cli.command("import")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="UTF-8 lines: word<TAB>label[<TAB>risky|review]")
def import_words_command(path):
    """Add every word of a file (lines starting with # are comments)."""
    from backend.services.backoffice import moderation

    count = 0
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) not in (2, 3):
                raise click.ClickException(f"line {number}: expected word<TAB>label[<TAB>action]")
            try:
                moderation.add_word(parts[0], parts[1], parts[2] if len(parts) == 3 else "risky")
            except ValueError as error:
                raise click.ClickException(f"line {number}: {error}")
            count += 1
    click.echo(f"imported {count} words")


@words_cli.command("remove")
@click.argument("word")
def remove_word_command(word):
    """Remove a word (matched by its normalised form)."""
    from backend.services.backoffice import moderation

    click.echo(f"removed {moderation.remove_word(word)}")


def register_commands(app):
    """Attach the commands to the app."""
    app.cli.add_command(block_user_command)
    app.cli.add_command(create_admin_command)
    app.cli.add_command(stickers_cli)
    app.cli.add_command(media_cli)
    app.cli.add_command(words_cli)
    app.cli.add_command(create_api_key_command)
    app.cli.add_command(recharge_command)
