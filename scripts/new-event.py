#!/usr/bin/env python3
"""Writes an API Gateway HTTP API (payload 2.0) event fixture into events/.

    scripts/new-event.py NAME METHOD PATH [--query Q] [--header K:V ...] [--json BODY | --form BODY]

Fixtures use the credentials of testkit/src/fixtures.rs, so handler tests, the runtime-API
harness and `sam local invoke -e events/NAME.json` (against a seeded table) all share them.
"""
import argparse
import json
import pathlib

parser = argparse.ArgumentParser()
parser.add_argument("name")
parser.add_argument("method")
parser.add_argument("path")
parser.add_argument("--query", default="")
parser.add_argument("--header", action="append", default=[])
parser.add_argument("--json")
parser.add_argument("--form")
args = parser.parse_args()

headers = {"accept": "application/json", "host": "api.example.com", "cb-sdk": "JS 6.1.2 - Client"}
body = None
if args.json is not None:
    headers["content-type"] = "application/json;charset=utf-8"
    body = json.dumps(json.loads(args.json), separators=(",", ":"))
elif args.form is not None:
    headers["content-type"] = "application/x-www-form-urlencoded"
    body = args.form
for header in args.header:
    key, _, value = header.partition(":")
    headers[key.strip().lower()] = value.strip()

event = {
    "version": "2.0",
    "routeKey": f"{args.method} {args.path.split('?')[0]}",
    "rawPath": args.path,
    "rawQueryString": args.query,
    "headers": headers,
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "api.example.com",
        "domainPrefix": "api",
        "http": {
            "method": args.method,
            "path": args.path,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.10",
            "userAgent": "cube-auth-fixture",
        },
        "requestId": f"fixture-{args.name}",
        "routeKey": f"{args.method} {args.path}",
        "stage": "$default",
        "time": "14/Nov/2023:22:13:20 +0000",
        "timeEpoch": 1700000000000,
    },
    "isBase64Encoded": False,
}
if body is not None:
    event["body"] = body
out = pathlib.Path(__file__).resolve().parent.parent / "events" / f"{args.name}.json"
out.write_text(json.dumps(event, indent=2) + "\n")
print(out.relative_to(out.parent.parent))
