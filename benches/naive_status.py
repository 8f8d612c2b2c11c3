"""The naive fleet reader that grappe-fleet status is measured against: every retained
topic of the grappe from `mosquitto_sub -v --retained-only`, one "topic payload" line each,
parsed into a per-device summary (state, posture score and failing serious checks,
security updates, reboot, end of life), then the problem devices counted.

    mosquitto_sub ... -t 'grappe/v1/GRAPPE/#' -v --retained-only -C N | python3 naive_status.py
"""
import json
import sys

devices = {}
for line in sys.stdin.buffer:
    topic, _, payload = line.partition(b" ")
    parts = topic.decode().split("/")
    if len(parts) < 6:
        continue
    devices.setdefault((parts[3], parts[4]), {})["/".join(parts[5:])] = json.loads(payload)

problems = 0
for (structure, device), t in sorted(devices.items()):
    status = t.get("status", {})
    posture = t.get("posture", {}).get("data", {})
    patches = t.get("patches", {}).get("data", {})
    failing = [c["id"] for c in posture.get("checks", [])
               if c["status"] == "fail" and c["severity"] in ("critical", "high")]
    bad = (status.get("state") != "online" or failing or (patches.get("security_count") or 0) > 0
           or patches.get("reboot_required") or patches.get("end_of_life_reached"))
    problems += bool(bad)
print(f"{len(devices)} devices, {problems} with problems")
