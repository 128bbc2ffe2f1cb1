#!/usr/bin/env python3
"""A SIEM collector written as the public ones are (requests and PyJWT): it signs its own token
from an Administration API key file, asks every INTERVAL seconds for the administration log
since its checkpoint up to the time it starts the poll (the same end for every page), pages
until a page is empty, and remembers the last eventLogDate it saw,
sent back with -00:00 and its milliseconds without trailing zeros, as the syslog-ng collector
does. It prints each event it collects as one JSON line, and stops after the first full poll
that begins once STOP_FILE exists.

    siem_collector.py KEY_FILE BASE_URL[,BASE_URL...] INTERVAL STOP_FILE START
"""
import json
import os
import sys
import time
from datetime import datetime, timezone

import jwt
import requests


def checkpoint_of(event_log_date):
    """2025-10-15T15:12:59.120Z -> 2025-10-15T15:12:59.12-00:00"""
    seconds, _, millis = event_log_date.rstrip("Zz").partition(".")
    millis = millis.rstrip("0")
    return f"{seconds}.{millis}-00:00" if millis else f"{seconds}-00:00"


def main():
    key_file, bases, interval, stop_file, checkpoint = sys.argv[1:6]
    with open(key_file, encoding="utf-8") as f:
        key = json.load(f)
    bases = bases.split(",")
    session = requests.Session()
    polls = 0
    while True:
        final = os.path.exists(stop_file)
        now = int(time.time())
        token = jwt.encode(
            {"sub": key["accessID"], "iat": now, "exp": now + 300, "aud": key["adminRestApiUrl"]},
            key["accessKey"],
            algorithm="RS256",
        )
        base = bases[polls % len(bases)]  # a load balancer in front of the instances
        polls += 1
        end = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "-00:00")
        page_number = 0
        while True:
            reply = session.get(
                f"{base}/AdminInterface/restapi/v1/adminlog/exportlogs",
                params={"startTimeAfter": checkpoint, "endTimeOnOrBefore": end, "pageNumber": page_number, "pageSize": 100},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            reply.raise_for_status()
            elements = reply.json()["elements"]
            if not elements:
                break
            for event in elements:
                print(json.dumps(event), flush=True)
            last_seen = elements[-1]["eventLogDate"]
            page_number += 1
        if page_number > 0:
            checkpoint = checkpoint_of(last_seen)
        if final:
            return
        time.sleep(float(interval))


if __name__ == "__main__":
    main()
