"""Access tokens (PyJWT, HS256 only, exp/iss/aud) and the Bearer-token guard of /api/v1."""
import hashlib
import time

import jwt
import sqlalchemy as sa
from apiflask import HTTPTokenAuth
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.errors import ApiError, error_response
from backend.extensions import db
from backend.models import User
from backend.services import ledger
from backend.services.transactions import write_transaction
from backend.services.wechat import WeChatClient

token_auth = HTTPTokenAuth(scheme="Bearer", description="access_token from POST /api/v1/auth/login")


def issue_token(user):
    """A signed access token for the user; returns (token, seconds until it expires)."""
    config = current_app.config
    now = int(time.time())
    claims = {"sub": user.id, "iat": now, "exp": now + config["JWT_TTL"],
              "iss": config["JWT_ISSUER"], "aud": config["JWT_AUDIENCE"]}
    return jwt.encode(claims, config["SECRET_KEY"], algorithm="HS256"), config["JWT_TTL"]


@token_auth.verify_token
def verify_token(token):
    """The user named by a valid token, else None (answered 401)."""
    if not token:
        return None
    config = current_app.config
    try:
        claims = jwt.decode(token, config["SECRET_KEY"], algorithms=["HS256"], audience=config["JWT_AUDIENCE"],
                            issuer=config["JWT_ISSUER"], options={"require": ["exp", "iss", "aud", "sub"]})
    except jwt.PyJWTError:
        return None
    return db.session.get(User, claims["sub"])


@token_auth.error_processor
def auth_error(error):
    """401 in the API's error shape, saying how to get a token."""
    return error_response(401, "unauthorized", "Log in first: send Authorization: Bearer <access_token> from "
                          "POST /api/v1/auth/login (a missing, expired or invalid token gets this).")


def login(code):
    """Exchange a wx.login code for a user: WeChat's jscode2session, or dev mode's stable fake openid."""
    if not code or not code.strip():
        raise ApiError("invalid_request", "code is required (from wx.login()).", "code")
    config = current_app.config
    if config["WECHAT_APPID"]:
        session = WeChatClient.from_config(config).code2session(code.strip())
        openid, unionid = session.openid, session.unionid
    elif config["DEV_LOGIN"]:
        openid, unionid = "dev_" + hashlib.sha256(code.strip().encode()).hexdigest()[:24], None
    else:
        raise ApiError("service_unavailable", "Login is not configured on this server; the operator must set "
                       "WECHAT_APPID and WECHAT_SECRET (or VOXMOJI_DEV_LOGIN=1 for development).")
    user = user_for_openid(openid, unionid)
    if user.blocked:
        raise ApiError("forbidden", "This account is blocked; contact the mini-program's operator.")
    try:
        with write_transaction():
            ledger.daily_allowance(user.id)
    except IntegrityError:  # already credited today
        pass
    db.session.refresh(user)
    return user


def user_for_openid(openid, unionid=None):
    """Find or create the user with this openid; a new user gets the signup grant in the same transaction."""
    user = db.session.scalars(sa.select(User).where(User.openid == openid)).first()
    if user is not None:
        if unionid and user.unionid != unionid:
            with write_transaction():
                db.session.execute(sa.update(User).where(User.id == user.id).values(unionid=unionid))
            db.session.refresh(user)
        return user
    try:
        with write_transaction():
            user = User(openid=openid, unionid=unionid, balance=0, held=0)
            db.session.add(user)
            db.session.flush()
            ledger.signup_grant(user.id)
    except IntegrityError:  # two first logins at once: the other one created it
        return db.session.scalars(sa.select(User).where(User.openid == openid)).one()
    db.session.refresh(user)
    return user
