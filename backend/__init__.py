"""VoxMoji: voice cloning and sticker generation for WeChat mini-programs."""
from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from backend import console, metrics, openapi, ratelimit
from backend.api import register_blueprints
from backend.celery_app import celery_init_app
from backend.config import check_config, load_config
from backend.errors import register_error_handlers
from backend.extensions import db, init_redis, migrate
from backend.json_provider import StrictJSONProvider, parse_json_body


class RowIdConverter(IntegerConverter):
    """A database row id in a path: digits up to the largest BIGINT; anything larger matches nothing (404),
    never an integer the database cannot hold."""

    def __init__(self, url_map, **kwargs):
        super().__init__(url_map, min=1, max=2**63 - 1)


class VoxMojiApp(APIFlask):
    """APIFlask whose JSON bodies must be valid Unicode."""

    json_provider_class = StrictJSONProvider


def create_app(config=None):
    """Application factory: defaults from the environment, overridden by `config`."""
    app = VoxMojiApp(__name__, title="VoxMoji API", version="1.0")
    app.config.from_mapping(load_config())
    if config:
        app.config.from_mapping(config)
    check_config(app.config)
    app.config["SPEC_FORMAT"] = "json"
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config.get("PROXY_HOPS", 1), x_proto=1)

    db.init_app(app)
    migrate.init_app(app, db)
    init_redis(app)
    ratelimit.check_config(app.config)
    celery_init_app(app)
    register_error_handlers(app)
    app.before_request(parse_json_body)
    app.url_map.converters["row_id"] = RowIdConverter
    register_blueprints(app)
    console.init_app(app)
    openapi.init_app(app)
    metrics.init_app(app)
    from backend.cli import register_commands

    register_commands(app)
    return app
