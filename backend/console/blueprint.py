"""The console's blueprint, extensions and page table, shared by its page modules."""
from apiflask import APIBlueprint
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from backend.vocabulary import API_KIND_BY_KIND, KIND_LABELS, LEDGER_KIND_LABELS, STATUS_LABELS

# An APIBlueprint only so that APIFlask's spec generator skips it (enable_openapi=False): the console is HTML.
bp = APIBlueprint("console", __name__, url_prefix="/admin", template_folder="templates", static_folder="static",
                  static_url_path="/static", enable_openapi=False)
login_manager = LoginManager()
csrf = CSRFProtect()

# page -> (title, roles that see it); the navigation and every view's guard read this one table
PAGES = {
    "dashboard": ("概览", ("admin", "moderator", "finance")),
    "review": ("审核队列", ("admin", "moderator")),
    "users": ("用户", ("admin", "moderator", "finance")),
    "recharges": ("充值", ("admin", "finance")),
    "audit": ("审计日志", ("admin", "finance")),
    "templates": ("表情模板", ("admin", "moderator")),
    "words": ("敏感词", ("admin", "moderator")),
    "keys": ("API 密钥", ("admin",)),
    "operators": ("运营人员", ("admin",)),
}


# the view each page's navigation link opens
ENTRY_POINTS = {"dashboard": "dashboard", "review": "review_queue", "users": "users", "recharges": "recharge_form",
                "audit": "audit_log", "templates": "templates_page", "words": "words", "keys": "keys",
                "operators": "operators_page"}
ROLE_NAMES = {"admin": "管理员", "moderator": "审核员", "finance": "财务"}


@bp.context_processor
def navigation():
    return {"pages": PAGES, "entry_points": ENTRY_POINTS, "role_names": ROLE_NAMES}


# The vocabulary's ids as the pages show them (the labels are defined once, in backend/vocabulary.py).
@bp.app_template_filter("job_kind")
def job_kind(kind):
    return KIND_LABELS.get(API_KIND_BY_KIND.get(kind, kind), kind)


@bp.app_template_filter("job_status")
def job_status(status):
    return STATUS_LABELS.get(status, status)


@bp.app_template_filter("ledger_kind")
def ledger_kind(kind):
    return LEDGER_KIND_LABELS.get(kind, kind)
