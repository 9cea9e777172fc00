#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for dcwatch's tests: every message it accepts
is written to DIR as NNNN.json with its envelope and its decoded subject and
body (or, for a multipart message, its decoded parts). Usage: smtp_server.py PORT DIR. Prints "ready" once listening."""
import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.controller import Controller

PORT, DIR = int(sys.argv[1]), sys.argv[2]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        n = len([f for f in os.listdir(DIR) if f.endswith(".json")])
        doc = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
        }
        if msg.is_multipart():
            # Every leaf part, decoded: the text and HTML alternatives, attachments.
            doc["parts"] = [
                {
                    "content_type": p.get_content_type(),
                    "filename": p.get_filename(),
                    "body": p.get_content(),
                }
                for p in msg.walk()
                if not p.is_multipart()
            ]
        else:
            doc["body"] = msg.get_content()
        tmp = os.path.join(DIR, f"{n:04}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(DIR, f"{n:04}.json"))
        return "250 OK"


controller = Controller(Handler(), hostname="127.0.0.1", port=PORT)
controller.start()
print("ready", flush=True)
asyncio.get_event_loop().run_forever()
