#!/usr/bin/python3
"""An OAuth 2.0 client of the Administration API written the way the field writes them (pydplus):
Debian's python3-jwt, python3-requests and python3-cryptography, a JWK file as `ds100-admin
oauth-clients create` writes it, a private_key_jwt assertion (iat, exp = iat + 300 as integers, a
uuid4 jti, the JWK's kid in the header), then every endpoint with the access token over HTTPS
with certificate verification on, and a 401 recovered from by fetching a new token and retrying
once.

    oauth_client.py --jwk-file F --client-id ID --issuer URL [--base-url URL] [--ca-file PEM]

Without --ca-file, requests trusts the system's CAs only. Like pydplus, it refuses an issuer or
base URL that is not https:// before it sends anything (exit 4, the reason on stderr). A failed
handshake ends it with exit 3 and the error on stderr. Otherwise it prints one JSON object: the
statuses of each step, keyed "METHOD path" for the API's endpoints; exit 0 when every step went
as expected.
"""
import argparse
import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt
import requests
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPES = ["rsa.authenticator.ds100.manage", "rsa.authenticator.ds100.delete",
          "rsa.authenticator.ds100.read", "rsa.user.read", "rsa.audit.admin", "rsa.audit.user"]


def load_jwk(path):
    with open(path, encoding="utf-8") as f:
        jwk = json.load(f)
    alg = jwk.get("alg") or ("RS256" if jwk["kty"] == "RSA" else "ES256")
    loader = RSAAlgorithm if jwk["kty"] == "RSA" else ECAlgorithm
    return loader.from_jwk(json.dumps(jwk)), alg, jwk.get("kid")


def require_https(name, url):
    """pydplus refuses to send a client's credentials anywhere but to an https:// URL."""
    if not url.lower().startswith("https://"):
        print(f"{name} must start with https://, not {url}", file=sys.stderr)
        sys.exit(4)


class Client:
    def __init__(self, args):
        issuer = args.issuer.rstrip("/")
        origin = (args.base_url or issuer[: -len("/oauth")]).rstrip("/")
        require_https("the issuer", issuer)
        require_https("the base URL", origin)
        self.key, self.alg, self.kid = load_jwk(args.jwk_file)
        self.client_id = args.client_id
        self.token_url = issuer + "/token"
        self.base = origin + "/AdminInterface/restapi"
        self.session = requests.Session()
        # Certificate verification stays on: against the CA file given, else the system's CAs.
        self.session.verify = args.ca_file or True
        self.token = None
        self.grants = 0

    def get_token(self):
        iat = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
                  "iat": iat, "exp": iat + 300, "jti": str(uuid.uuid4())}
        headers = {"kid": self.kid} if self.kid else None
        assertion = jwt.encode(claims, self.key, algorithm=self.alg, headers=headers)
        reply = self.session.post(self.token_url, data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "client_id": self.client_id,
            "scope": " ".join(SCOPES),
        }, timeout=30)
        reply.raise_for_status()
        body = reply.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600, body
        assert reply.headers.get("Cache-Control") == "no-store", reply.headers
        self.token = body["access_token"]
        self.grants += 1

    def call(self, method, path, body=None, params=None, token=None):
        """One call; on a 401, a new token and one more try (as pydplus does)."""
        def send(bearer):
            return self.session.request(method, self.base + path, json=body, params=params, timeout=30,
                                        headers={"Authorization": "Bearer " + bearer})
        reply = send(token or self.token)
        statuses = [reply.status_code]
        if reply.status_code == 401:
            assert reply.headers.get("WWW-Authenticate", "").startswith('Bearer error="invalid_token"'), reply.headers
            self.get_token()
            reply = send(self.token)
            statuses.append(reply.status_code)
        return reply, statuses


def iso(moment):
    return moment.isoformat(timespec="milliseconds")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jwk-file", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--base-url")
    parser.add_argument("--ca-file")
    args = parser.parse_args()

    client = Client(args)
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    try:
        client.get_token()
    except requests.exceptions.SSLError as e:
        print(f"SSLError: {e}", file=sys.stderr)
        sys.exit(3)
    device, jane, john = "140100080", "ece30fe9-414c-7536-5403-0656220b3046", "87927fb7-e185-4c33-c7e3-8e077675973c"
    results = {}

    # A garbled token first: the 401, a new token, the call again.
    garbled = client.token[:-6] + ("AAAAAA" if not client.token.endswith("AAAAAA") else "BBBBBB")
    reply, statuses = client.call("POST", "/v1/ds100/lookup", {"deviceSerialNumber": device}, token=garbled)
    results["lookup after a garbled token"] = statuses
    steps = [
        ("POST", "/v1/users/lookup", {"email": "jane.doe@example.com"}),
        ("POST", "/v1/ds100/lookup", {"deviceSerialNumber": device}),
        ("PATCH", "/v1/ds100/disable/otp", {"deviceSerialNumber": device, "userId": jane}),
        ("PATCH", "/v1/ds100/enable/otp", {"deviceSerialNumber": device, "userId": jane}),
        ("PATCH", "/v1/ds100/clearPin/otp", {"tokenSerialNumber": "014010008039", "userId": john}),
        ("DELETE", "/v1/ds100/delete/otp",
         {"tokenSerialNumber": "014010008038", "deviceSerialNumber": device, "userId": john}),
    ]
    for method, path, body in steps:
        reply, statuses = client.call(method, path, body)
        results[f"{method} {path}"] = statuses
        if path == "/v1/ds100/enable/otp":
            assert reply.json()[0]["tokenStatusChangedBy"] == client.client_id, reply.text
    # The event logs, over the window of this run; requests sends the "+" of the offset as %2B.
    window = {"startTimeAfter": iso(started), "endTimeOnOrBefore": iso(datetime.now(timezone.utc)),
              "pageNumber": 0, "pageSize": 100}
    for path, array in [("/v1/adminlog/exportlogs", "elements"), ("/v1/usereventlog/exportlogs", "userEventLogExportEntries")]:
        reply, statuses = client.call("GET", path, params=window)
        results[f"GET {path}"] = statuses
        events = reply.json()[array]
        if array == "elements":
            # The enable this client made is in the admin log, under its name.
            assert any(e["activityKey"] == "DS100_OTP_ENABLE_SUCCESS" and e["adminUserName"] == client.client_id
                       for e in events), reply.text
        else:
            assert any(e["activityKey"] == "DS100_OTP_DELETE_SUCCESS" and e["userId"] == john for e in events), reply.text
    results["grants"] = client.grants
    print(json.dumps(results))
    expected = {f"{method} {path}": [200] for method, path, _ in steps}
    expected["GET /v1/adminlog/exportlogs"] = [200]
    expected["GET /v1/usereventlog/exportlogs"] = [200]
    expected["lookup after a garbled token"] = [401, 200]
    expected["grants"] = 2
    return 0 if results == expected else 1


if __name__ == "__main__":
    sys.exit(main())
