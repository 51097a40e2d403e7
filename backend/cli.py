"""Flask CLI commands: `flask --app backend stickers ...`."""
import json

import click
from flask.cli import AppGroup

from backend.engines import sticker_templates
from backend.services import media

stickers_cli = AppGroup("stickers", help="Sticker templates.")


def render_template_previews():
    """Write every template's preview PNG under the media root (run by `make run`'s prepare)."""
    sticker_templates.render_previews(media.write_atomic)


@stickers_cli.command("render-previews")
def render_previews_command():
    """Render the template previews served by GET /api/v1/templates."""
    render_template_previews()
    click.echo(f"rendered {len(sticker_templates.TEMPLATES)} previews")


@stickers_cli.command("detect-template-faces")
def detect_template_faces_command():
    """Detect the photo templates' faces with MediaPipe and rewrite template_faces.json."""
    from backend.engines.face_analysis import FaceAnalyzer

    data = sticker_templates.detect_template_faces(FaceAnalyzer())
    sticker_templates.FACES_FILE.write_text(json.dumps(data, separators=(",", ":")))
    click.echo(f"wrote {sticker_templates.FACES_FILE}")


def register_commands(app):
    """Attach the command groups to the app."""
    app.cli.add_command(stickers_cli)
