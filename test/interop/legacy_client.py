#!/usr/bin/python3
"""A legacy client of the Cloud Administration API, written the way the field writes them
(pydplus and its kin): PyJWT signs an RS256 token from the key file with float iat/exp taken
from time.time(), and requests calls the API over HTTPS with certificate verification on.

    legacy_client.py KEY_FILE CA_FILE    verify the server against CA_FILE
    legacy_client.py KEY_FILE system     verify it against the system's CAs only

Prints one JSON object: each call's HTTP status and parsed body. A failed handshake ends it
with exit code 3 and the error on stderr.
"""
import json
import sys
import time

import jwt
import requests

JANE_EMAIL = 'jane.doe@example.com'
DEVICE = '140100080'


def main():
    key_path, ca = sys.argv[1], sys.argv[2]
    with open(key_path, encoding='utf-8') as f:
        key = json.load(f)
    base = key['adminRestApiUrl'].rstrip('/')
    if not base.startswith('https://'):
        # What pydplus 2 says of a key file that does not name https://.
        sys.exit(f'adminRestApiUrl must start with https://, not {base}')

    iat = time.time()
    claims = {'sub': key['accessID'], 'iat': iat, 'exp': time.time() + 3000, 'aud': base}
    token = jwt.encode(claims, key['accessKey'], algorithm='RS256')
    session = requests.Session()
    session.verify = True if ca == 'system' else ca
    session.headers.update({'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'})

    def call(method, path, body):
        try:
            r = session.request(method, f'{base}/v1/{path}', json=body, timeout=30)
        except requests.exceptions.SSLError as e:
            print(f'SSLError: {e}', file=sys.stderr)
            sys.exit(3)
        try:
            parsed = r.json()
        except ValueError:
            parsed = r.text
        return {'status': r.status_code, 'body': parsed}

    results = {'claims': {'iat': claims['iat'], 'exp': claims['exp']}}
    results['users_lookup'] = call('POST', 'users/lookup', {'email': JANE_EMAIL})
    user_id = results['users_lookup']['body'].get('id') if results['users_lookup']['status'] == 200 else None
    results['ds100_lookup'] = call('POST', 'ds100/lookup', {'deviceSerialNumber': DEVICE})
    results['enable'] = call('PATCH', 'ds100/enable/otp', {'deviceSerialNumber': DEVICE, 'userId': user_id})
    results['disable'] = call('PATCH', 'ds100/disable/otp', {'deviceSerialNumber': DEVICE, 'userId': user_id})
    print(json.dumps(results))


if __name__ == '__main__':
    main()
