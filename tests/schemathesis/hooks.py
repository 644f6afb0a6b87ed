"""Schemathesis hooks for cube-auth: a real user session for every operation that needs
one. Operations that end the session (DELETE /session, DELETE /login, deleting users) make
the next case log in again, so later cases are never stuck with a dead token."""

import json
import os
import urllib.request
import zlib

import schemathesis

API = os.environ["CUBE_AUTH_API"]
with open(os.environ["CUBE_AUTH_APP_FILE"], encoding="utf-8") as f:
    APP = json.load(f)
LOGIN = "fuzzer"
PASSWORD = "fuzz-password-for-schemathesis"
ENDS_SESSION = {("DELETE", "/session"), ("DELETE", "/login"), ("DELETE", "/users/{id}"), ("DELETE", "/users/external/{id}"), ("PUT", "/users/{id}")}


def post(path, body, headers=None):
    request = urllib.request.Request(
        API + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def user_session():
    credentials = {"login": LOGIN, "password": PASSWORD}
    status, body = post("/session", {"application_id": APP["application_id"], "auth_key": APP["auth_key"], "user": credentials})
    if status != 201:
        # First use, or a fuzzed case deleted the user or changed its password: sign up anew.
        post("/users", {"user": credentials}, {"CB-AuthKey": APP["auth_key"]})
        status, body = post("/session", {"application_id": APP["application_id"], "auth_key": APP["auth_key"], "user": credentials})
    if status != 201:
        raise RuntimeError(f"could not log the fuzzing user in: {status}")
    return body["session"]["token"]


@schemathesis.auth(refresh_interval=None)
class CubeToken:
    token = None

    def get(self, case, ctx):
        if CubeToken.token is None:
            CubeToken.token = user_session()
        return CubeToken.token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["CB-Token"] = data
        if (case.method.upper(), case.path) in ENDS_SESSION:
            CubeToken.token = None


@schemathesis.hook("map_body").apply_to(method="POST", path="/session")
def real_application(ctx, body):
    """Half the generated session requests carry the real application's credentials, so
    that the fuzzed user, signature and provider parts reach the code behind them."""
    if isinstance(body, dict) and zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode()) % 2 == 0:
        body["application_id"] = APP["application_id"]
        body["auth_key"] = APP["auth_key"]
    return body
