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
    """Exchange a wx.login code for a user. Dev mode maps any code to a stable openid."""
    if not code or not code.strip():
        raise ApiError("invalid_request", "code is required (from wx.login()).", "code")
    if not current_app.config["DEV_LOGIN"]:
        raise ApiError("service_unavailable", "WeChat login is not configured on this server; "
                       "the operator must set WECHAT_APPID/WECHAT_SECRET (or VOXMOJI_DEV_LOGIN=1 for development).")
    openid = "dev_" + hashlib.sha256(code.strip().encode()).hexdigest()[:24]
    return user_for_openid(openid)


def user_for_openid(openid):
    """Find or create the user with this openid (safe against two first logins at once)."""
    user = db.session.scalars(sa.select(User).where(User.openid == openid)).first()
    if user is not None:
        return user
    user = User(openid=openid)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        user = db.session.scalars(sa.select(User).where(User.openid == openid)).one()
    return user
