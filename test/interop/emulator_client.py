"""A Python team's integration test against `ds100-admin emulate`, with requests and PyJWT only.

Run by test/interop/python.test.ts as `/usr/bin/python3 emulator_client.py <ds100-admin bin>`:
it starts `ds100-admin emulate` with a YAML seed, reads the JSON line, signs tokens from the key
file as the vendor's Python clients do, gets an OAuth access token with the default client's JWK
file as pydplus does, injects a 503 and a 429, reads the journal, and checks that a token expired
by moving the emulated clock is refused. Any failed check exits non-zero.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import jwt
import requests
from jwt.algorithms import RSAAlgorithm

BIN = sys.argv.pop(1) if len(sys.argv) > 1 else "ds100-admin"
# YAML, as a suite keeps it beside its tests (no YAML library needed to write it). Serial numbers
# are quoted: unquoted, YAML reads them as numbers.
SEED = """
users:
  - id: py-user-1
    email: py.user@example.com
    firstName: Py
    lastName: User
registrations:
  - user: py-user-1
    deviceSerialNumber: "160100001"
    tokenSerialNumber: "016010000131"
    tokenStatus: Enabled
"""


class EmulatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        seed_file = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        seed_file.write(SEED)
        seed_file.close()
        cls.seed_file = seed_file.name
        cls.proc = subprocess.Popen(
            [BIN, "emulate", "--seed", seed_file.name, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = cls.proc.stdout.readline()
        if not line:
            raise RuntimeError("emulate printed nothing: " + cls.proc.stderr.read())
        cls.info = json.loads(line)
        cls.control = requests.Session()
        cls.control.headers["Authorization"] = "Bearer " + cls.info["controlToken"]

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        os.unlink(cls.seed_file)

    def setUp(self):
        self.control.post(self.info["controlUrl"] + "/reset").raise_for_status()

    def token(self, role="HelpDeskAdmin", now=None):
        with open(self.info["keyFiles"][role]) as f:
            key = json.load(f)
        iat = int(now if now is not None else time.time())
        claims = {"sub": key["accessID"], "iat": iat, "exp": iat + 600, "aud": key["adminRestApiUrl"]}
        return jwt.encode(claims, key["accessKey"], algorithm="RS256")

    def lookup(self, token):
        return requests.post(
            self.info["restApiUrl"] + "/v1/ds100/lookup",
            json={"deviceSerialNumber": "160100001"},
            headers={"Authorization": "Bearer " + token},
        )

    def test_json_line(self):
        for name in ("baseUrl", "restApiUrl", "issuerUrl", "controlUrl", "controlToken", "keyFiles", "oauthClientId", "oauthClientJwkFile"):
            self.assertIn(name, self.info)
        self.assertEqual(sorted(self.info["keyFiles"]), ["HelpDeskAdmin", "ReadOnly", "SuperAdmin"])

    def test_seeded_record(self):
        answer = self.lookup(self.token())
        self.assertEqual(answer.status_code, 200, answer.text)
        self.assertEqual([r["userId"] for r in answer.json()], ["py-user-1"])

    def test_fault_and_journal(self):
        rule = self.control.post(
            self.info["controlUrl"] + "/faults",
            json={"path": "/v1/ds100/lookup", "status": 503, "count": 1},
        )
        self.assertEqual(rule.status_code, 201, rule.text)
        token = self.token()
        first = self.lookup(token)
        self.assertEqual(first.status_code, 503)
        self.assertEqual(first.json(), {"code": "503 SERVICE_UNAVAILABLE", "description": "The service is not ready."})
        self.assertEqual(self.lookup(token).status_code, 200)

        journal = self.control.get(self.info["controlUrl"] + "/requests", params={"path": "/v1/ds100/lookup"}).json()["requests"]
        self.assertEqual([e["status"] for e in journal], [503, 200])
        self.assertEqual(journal[0]["fault"], rule.json()["id"])
        self.assertEqual(journal[1]["caller"]["role"], "HelpDeskAdmin")
        self.assertNotIn(token, json.dumps(journal))

    def test_injected_429_has_retry_after(self):
        self.control.post(
            self.info["controlUrl"] + "/faults",
            json={"path": "/v1/ds100/lookup", "status": 429, "retryAfterSeconds": 3, "count": 1},
        ).raise_for_status()
        answer = self.lookup(self.token())
        self.assertEqual(answer.status_code, 429)
        self.assertEqual(answer.headers["Retry-After"], "3")

    def test_clock_expires_a_token(self):
        token = self.token()
        moved = self.control.put(self.info["controlUrl"] + "/clock", json={"offsetSeconds": 7200})
        self.assertEqual(moved.status_code, 200, moved.text)
        refused = self.lookup(token)
        self.assertEqual(refused.status_code, 403)
        self.assertEqual(refused.json()["message"], "Expired Access Token is not allowed")
        self.assertEqual(self.lookup(self.token(now=time.time() + 7200)).status_code, 200)

    def test_oauth_default_client(self):
        # The client credentials grant with a private-key JWT (RFC 7523), as pydplus makes it.
        with open(self.info["oauthClientJwkFile"]) as f:
            jwk = json.load(f)
        token_endpoint = self.info["issuerUrl"] + "/token"
        now = int(time.time())
        assertion = jwt.encode(
            {"iss": self.info["oauthClientId"], "sub": self.info["oauthClientId"], "aud": token_endpoint,
             "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())},
            RSAAlgorithm.from_jwk(json.dumps(jwk)),
            algorithm=jwk["alg"],
            headers={"kid": jwk["kid"]},
        )
        grant = requests.post(token_endpoint, data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": "rsa.authenticator.ds100.read",
        })
        self.assertEqual(grant.status_code, 200, grant.text)
        answer = self.lookup(grant.json()["access_token"])
        self.assertEqual(answer.status_code, 200, answer.text)
        self.assertEqual([r["tokenSerialNumber"] for r in answer.json()], ["016010000131"])
        journal = self.control.get(self.info["controlUrl"] + "/requests", params={"path": "/v1/ds100/lookup"}).json()["requests"]
        self.assertEqual(journal[-1]["caller"]["accessId"], self.info["oauthClientId"])

    def test_control_api_needs_its_token(self):
        self.assertEqual(requests.post(self.info["controlUrl"] + "/reset").status_code, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
